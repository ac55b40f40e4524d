"""_caches: see the module docstrings."""
