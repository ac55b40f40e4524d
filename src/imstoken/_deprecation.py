"""Warn apps that still use Adobe's retired Service Account (JWT) credential against Adobe."""

from __future__ import annotations

import os
import warnings
from urllib.parse import urlsplit

from ._config import PRODUCTION_HOST, Settings

RETIRED_JWT_MESSAGE = (
    "Adobe retired Service Account (JWT) credentials (end of life 30 June 2025). Add an "
    "OAuth Server-to-Server credential to the project in the Developer Console, put its "
    'scopes in an [oauth] table, and flip credential = "jwt" to credential = "oauth"; '
    "no code change is needed (`imstoken check` shows whether both credentials work)."
)

_PRODUCTION_HOSTNAME = urlsplit(PRODUCTION_HOST).hostname or ""
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def is_adobe_production(url: str) -> bool:
    """Whether ``url`` points at Adobe's production IMS (not stage, not a local or other server)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host == _PRODUCTION_HOSTNAME:
        return True
    return host.endswith(".adobelogin.com") and "-stg" not in host


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside imstoken.

    The factories call each other (``from_file`` -> ``from_config`` -> ...), so a fixed number
    would blame imstoken's own code, where the default filters hide DeprecationWarning.
    """
    import inspect  # lazily: only a JWT provider against production gets here

    level = 1  # the frame that calls warnings.warn: warn_if_retired_jwt
    here = inspect.currentframe()
    frame = here.f_back if here is not None else None
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn_if_retired_jwt(settings: Settings, *, stacklevel: int | None = None) -> None:
    """One DeprecationWarning per provider built on the Adobe JWT backend against production.

    The warning points at the application's line that built the provider, unless
    ``stacklevel`` says otherwise.
    """
    if settings.profile != "adobe" or settings.credential != "jwt":
        return
    # A token_url override can point the exchange at production while ims_host says otherwise.
    if is_adobe_production(settings.ims_host) or is_adobe_production(settings.token_url):
        level = stacklevel if stacklevel is not None else _caller_stacklevel()
        warnings.warn(RETIRED_JWT_MESSAGE, DeprecationWarning, stacklevel=level)
