"""Merging: aliases, unknown-key warnings, and the ``[jwt]``/``[oauth]`` table of the credential."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigError
from ._schema import ALIASES, BACKEND_TABLES, IGNORED_KEYS, KNOWN_KEYS
from ._values import config_error

logger = logging.getLogger("imstoken")


def _canonical(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Apply aliases; reject a key given twice under two names; warn on unknown keys."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if not isinstance(name, str):
            raise ConfigError(f"configuration keys must be strings ({where})")
        if name in BACKEND_TABLES:
            continue
        key = ALIASES.get(name, name)
        if key in out:
            raise ConfigError(f"is given twice in {where} (once as {name!r})", key=key)
        if key not in KNOWN_KEYS and key not in IGNORED_KEYS:
            import difflib

            if isinstance(value, Mapping):
                close = difflib.get_close_matches(key, BACKEND_TABLES, n=1)
                hint = f" (did you mean [{close[0]}]?)" if close else ""
                logger.warning("imstoken: ignoring unknown table [%s]%s", name, hint)
                continue
            close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            logger.warning("imstoken: ignoring unknown configuration key %r%s", name, hint)
            continue
        out[key] = value
    return out


def chosen_credential(config: Mapping[str, Any], credential: str | None = None) -> str | None:
    """``"jwt"`` or ``"oauth"``: what ``credential`` (or the mapping) selects; a mapping that
    names none but holds one backend table selects that one. None if missing or invalid."""
    chosen = credential
    if chosen is None:
        chosen = config.get("credential", config.get("authentication_method"))
    if chosen is None:
        present = [name for name in BACKEND_TABLES if isinstance(config.get(name), Mapping)]
        return present[0] if len(present) == 1 else None
    if isinstance(chosen, str) and chosen.strip().lower() in BACKEND_TABLES:
        return chosen.strip().lower()
    return None


def merge(config: Mapping[str, Any], credential: str | None) -> tuple[str, dict[str, Any]]:
    """Shared keys, overlaid by the ``[jwt]``/``[oauth]`` table of the chosen credential."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"configuration must be a mapping, not {type(config).__name__}")
    shared = _canonical(config, "the top level")
    chosen = chosen_credential(config, credential)
    if chosen is None:
        if credential is None and shared.get("credential") is None:
            raise config_error("credential", 'is missing: set credential = "oauth" or "jwt"')
        raise config_error("credential", 'must be "oauth" or "jwt"')
    merged = dict(shared)
    table = config.get(chosen)
    if table is not None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{chosen}] must be a table of keys", key=chosen)
        merged.update(_canonical(table, f"[{chosen}]"))
    merged["credential"] = chosen
    return chosen, merged
