"""Recognise foreign file formats (Developer Console project JSON, ...) and map them to config."""

from __future__ import annotations

from typing import Any


def normalise_file_config(config: dict[str, Any], *, credential: str | None) -> dict[str, Any]:
    """Return an imstoken configuration mapping for whatever the file holds."""
    if isinstance(config.get("project"), dict):
        from ._console import console_to_config

        return console_to_config(config, credential=credential)
    if config.get("type") == "service_account" and "client_email" in config:
        from .._backends._standard import service_account_to_config

        return service_account_to_config(config, credential=credential)
    return config
