"""_config: see the module docstrings."""
