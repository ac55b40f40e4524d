"""_backends: see the module docstrings."""
