"""Adapters of a TokenProvider to other HTTP stacks (``requests``), over its public methods."""
