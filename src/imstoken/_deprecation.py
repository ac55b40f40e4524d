"""Warn apps that still use Adobe's retired Service Account (JWT) credential against Adobe."""

from __future__ import annotations

import warnings

from ._config import PRODUCTION_HOST, Settings

RETIRED_JWT_MESSAGE = (
    "Adobe retired Service Account (JWT) credentials (end of life 30 June 2025). Add an "
    "OAuth Server-to-Server credential to the project in the Developer Console, put its "
    'scopes in an [oauth] table, and flip credential = "jwt" to credential = "oauth"; '
    "no code change is needed."
)


def warn_if_retired_jwt(settings: Settings, *, stacklevel: int = 4) -> None:
    """One DeprecationWarning per provider built on the Adobe JWT backend against production."""
    if (
        settings.profile == "adobe"
        and settings.credential == "jwt"
        and settings.ims_host == PRODUCTION_HOST
    ):
        warnings.warn(RETIRED_JWT_MESSAGE, DeprecationWarning, stacklevel=stacklevel)
