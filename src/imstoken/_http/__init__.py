"""_http: see the module docstrings."""
