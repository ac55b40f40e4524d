"""The ``imstoken`` command line (also ``python -m imstoken``): the cut-over as commands.

``token`` prints a token for scripts and curl, ``check`` proves which credentials work and
that they are one technical account, ``config`` shows the resolved configuration and where
each value came from, ``cache`` shows or clears shared-cache records, ``convert`` turns a
Developer Console download into a config file, ``demo`` runs the demo. Errors are one line on
stderr, warnings too (``-q`` silences them); ``--verbose`` adds detail. No command prints a
secret; only ``token`` prints a token, because it is asked to.

Modules: ``_main`` (command table, error report, ``main``), ``_parser``, ``_output`` (stderr:
warnings, progress, attempts), ``_shared`` (what the commands share), ``_load`` (config and
provider), ``_provenance`` (value sources), and one per command: ``_token``, ``_check``,
``_show``, ``_cache``, ``_convert``, ``_demo``.
"""

from ._main import main

__all__ = ["main"]
