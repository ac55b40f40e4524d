"""_cli: see the module docstrings."""
