"""_adapters: see the module docstrings."""
