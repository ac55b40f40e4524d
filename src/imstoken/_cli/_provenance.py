"""Where each configuration value came from: a file and its table, a variable, an option, a default.

Reads the raw mapping the CLI loaded and the ``Settings`` a provider would be built from; never
shows a secret's value (secrets are "set" or "not set").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._config import ALIASES, ENV_VARS, IGNORED_KEYS, KNOWN_KEYS, Settings

#: Keys whose values are never shown.
SECRET_KEYS = frozenset(
    {"client_secret", "client_secrets", "private_key", "private_key_passphrase"}
)
#: Keys whose values may carry secrets (API keys in extra parameters): shown by count only.
OPAQUE_KEYS = frozenset({"extra_params", "extra_claims"})
#: Shown even when not given, with the value the provider uses.
DEFAULTED = (
    "profile",
    "ims_host",
    "token_url",
    "cache",
    "cache_prefix",
    "timeout",
    "deadline",
    "refresh_window",
    "min_validity",
)


@dataclass
class Row:
    """One key: its shown value and where it came from."""

    key: str
    value: str
    source: str


@dataclass
class Origin:
    """How the CLI got its config: a file (``path``) or the environment, and option overrides."""

    env: bool
    path: str | None
    options: Mapping[str, str]  # key -> "--option" that set it


def label(origin: Origin, table: str | None) -> str:
    """``file ims.toml [oauth]``, ``file ims.toml``."""
    where = f"file {origin.path}"
    return f"{where} [{table}]" if table else where


def given_keys(
    config: Mapping[str, Any], kind: str, origin: Origin
) -> tuple[dict[str, tuple[Any, str]], list[str]]:
    """Each canonical key the chosen credential sees -> (raw value, source); and unknown keys."""
    found: dict[str, tuple[Any, str]] = {}
    unknown: list[str] = []
    table = config.get(kind)
    layers: list[tuple[Mapping[str, Any], str | None]] = [(config, None)]
    if isinstance(table, Mapping):
        layers.append((table, kind))
    for layer, table_name in layers:
        for name, value in layer.items():
            if not isinstance(name, str) or (table_name is None and name in ("jwt", "oauth")):
                continue
            key = ALIASES.get(name, name)
            if key in IGNORED_KEYS:
                continue
            if key not in KNOWN_KEYS:
                where = f"[{table_name}] " if table_name else ""
                unknown.append(f"{where}{name}")
                continue
            if key in origin.options:
                source = f"{origin.options[key]} option"
            elif origin.env:
                source = f"env {ENV_VARS.get(key, key)}"
            else:
                source = label(origin, table_name)
                if name != key:
                    source += f" (as {name})"
            if isinstance(value, Mapping) and set(value) == {"env"}:
                source = f"env {value['env']} (named in {source})"
            found[key] = (value, source)
    for key, option in origin.options.items():
        found.setdefault(key, (config.get(key), f"{option} option"))
    return found, unknown


def shown(key: str, raw: Any, settings: Settings | None, base_dir: Path | None) -> str:
    """The value to print for ``key``: secrets as set / not set, never their text."""
    if key in SECRET_KEYS:
        if isinstance(raw, Mapping) and "env" in raw:
            return "set" if os.environ.get(str(raw["env"]), "").strip() else "not set"
        return "set" if raw not in (None, "", [], ()) else "not set"
    if key in OPAQUE_KEYS:
        count = len(raw) if isinstance(raw, Mapping | list | tuple) else 1
        return f"set ({count} entr{'y' if count == 1 else 'ies'}, values not shown)"
    if key == "private_key_path" and isinstance(raw, str):
        path = Path(os.path.expanduser(raw))
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return str(path)
    value = getattr(settings, key, None) if settings is not None else None
    if value is None:
        value = raw
    if key == "cache" and isinstance(value, str) and "://" in value:
        from .._caches._redis_connect import redact_url

        return redact_url(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "(none)"
    if isinstance(value, str) and "://" in value:
        return without_userinfo(value)
    return "(policy default)" if value is None else str(value)


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (refused, but still shown)."""
    scheme, sep, rest = url.partition("://")
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:authority_end]
    if "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{rest[authority_end:]}"


def rows_for(
    config: Mapping[str, Any],
    kind: str,
    origin: Origin,
    settings: Settings | None,
    base_dir: Path | None,
) -> tuple[list[Row], list[str]]:
    """The rows of one credential (given keys, then defaults) and its unknown keys."""
    found, unknown = given_keys(config, kind, origin)
    rows = [
        Row(key, shown(key, raw, settings, base_dir), source)
        for key, (raw, source) in found.items()
        if key != "credential"
    ]
    if "client_secret" not in found and "client_secrets" not in found:
        rows.append(Row("client_secret", "not set", "-"))
    if settings is None:
        return rows, unknown  # defaults are only known for a config that validates
    for key in DEFAULTED:
        if key in found:
            continue
        if key == "token_url":
            source = "derived from ims_host" if settings.profile == "adobe" else "default"
            rows.append(Row(key, settings.token_url, source))
        else:
            rows.append(Row(key, shown(key, None, settings, base_dir), "default"))
    return rows, unknown
