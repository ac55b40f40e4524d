"""The ``imstoken`` command line (also ``python -m imstoken``): the cut-over as commands.

``token`` prints a token for scripts and curl, ``check`` proves which credentials work and
that they are one technical account, ``convert`` turns a Developer Console download into a
config file, ``demo`` runs the demo. Errors are one line on stderr; ``--verbose`` adds
detail. No command prints a secret; only ``token`` prints a token, because it is asked to.

Modules: ``_main`` (parser, logging, error report, ``main``), ``_shared`` (what the commands
share), ``_load`` (config and provider for ``token`` and ``check``), and one per command:
``_token``, ``_check``, ``_convert``, ``_demo``.
"""

from ._main import main

__all__ = ["main"]
