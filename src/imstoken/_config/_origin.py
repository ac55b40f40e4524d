"""Where a configuration came from, and errors that say so.

A mapping read from ``IMS_*`` variables or from a file is a ``SourcedConfig``: a dict that
remembers its ``Origin``. ``build_settings`` turns every ``ConfigError`` into one that names
the source that applies: the variable for the environment, the file and table for a file, the
key alone for a mapping handed to ``from_config``. A missing key also gets a "did you mean"
hint when an unknown key, table or variable looks like it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .._errors import ConfigError
from ._merge import chosen_credential
from ._schema import ALIASES, BACKEND_TABLES, ENV_VARS, IGNORED_KEYS, KNOWN_KEYS, Settings
from ._settings import build_settings as build_plain_settings
from ._values import as_header_value, check_redis_url

#: Keys whose absence another key can make up for: a typo of either deserves the hint.
_STANDS_IN = {
    "private_key_path": ("private_key", "private_key_path"),
    "client_secret": ("client_secret", "client_secrets"),
}
_MISSING = ("is missing", "is required")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a configuration mapping came from: the environment, or a file."""

    kind: Literal["env", "file"]
    path: str | None = None
    #: False for files converted to a configuration (Developer Console, Google key files):
    #: their keys sit in no [jwt]/[oauth] table of the file.
    tables: bool = True
    #: Unknown ``IMS_*`` variable names (the environment only), for "did you mean" hints.
    unknown: tuple[str, ...] = ()


class SourcedConfig(dict[str, Any]):
    """A configuration mapping that remembers its ``Origin``."""

    def __init__(self, data: Mapping[str, Any], origin: Origin) -> None:
        super().__init__(data)
        self.origin = origin


def origin_of(config: object) -> Origin | None:
    """The ``Origin`` of a mapping read by imstoken; None for a caller's own mapping."""
    return config.origin if isinstance(config, SourcedConfig) else None


def with_origin(config: Mapping[str, Any], origin: Origin | None) -> Mapping[str, Any]:
    """``config`` as a ``SourcedConfig`` of ``origin`` (unchanged when ``origin`` is None)."""
    return config if origin is None else SourcedConfig(config, origin)


def build_settings(
    config: Mapping[str, Any],
    *,
    credential: str | None = None,
    base_dir: Path | None = None,
) -> Settings:
    """Validate a configuration mapping into ``Settings`` for one credential.

    A ``ConfigError`` names the key and the source that applies (variable, or file and table).
    """
    try:
        settings = build_plain_settings(config, credential=credential, base_dir=base_dir)
        _check_built(settings)
    except ConfigError as error:
        raise located(error, config, credential) from error.__cause__
    return settings


def _check_built(settings: Settings) -> None:
    # Values that travel as HTTP header values to Adobe's APIs, and the Redis URL: checked here
    # so that they fail now, naming the key, not at the first request deep inside the transport.
    if settings.profile == "adobe":
        as_header_value("client_id", settings.client_id)
        if settings.org_id is not None:
            as_header_value("org_id", settings.org_id)
    if settings.cache.lower().startswith(("redis://", "rediss://", "unix://")):
        check_redis_url("cache", settings.cache)


def located(error: ConfigError, config: object, credential: str | None) -> ConfigError:
    """``error`` again, naming where its key came from, with a hint for a missing key."""
    if error.key is None or not isinstance(config, Mapping):
        return error
    origin = origin_of(config)
    base = error.key.split(".")[0].split("[")[0]
    chosen = chosen_credential(config, credential)
    reason = error.reason
    if reason.startswith(_MISSING):
        reason += "".join(f" ({hint})" for hint in _hints(base, config, chosen, origin))
    env_var: str | None = None
    source: str | None = None
    if origin is not None and origin.kind == "env":
        env_var = ENV_VARS.get(base)
    elif origin is not None:
        source = f"in {origin.path}" + (_table(base, config, chosen) if origin.tables else "")
    new = ConfigError(reason, key=error.key, env_var=env_var, source=source)
    return new.with_traceback(error.__traceback__)


def _names(table: Mapping[Any, Any], base: str) -> bool:
    return any(isinstance(name, str) and ALIASES.get(name, name) == base for name in table)


def _table(base: str, config: Mapping[Any, Any], chosen: str | None) -> str:
    table = config.get(chosen) if chosen else None
    if isinstance(table, Mapping) and _names(table, base):
        return f", table [{chosen}]"
    if base in BACKEND_TABLES or _names(config, base):
        return ", top level"
    return ""


def _hints(
    base: str, config: Mapping[Any, Any], chosen: str | None, origin: Origin | None
) -> list[str]:
    wanted = _STANDS_IN.get(base, (base,))
    hints: list[str] = []
    if origin is not None and origin.kind == "env":
        variables = {ENV_VARS[key] for key in wanted if key in ENV_VARS}
        for name in origin.unknown:
            close = difflib.get_close_matches(name, sorted(ENV_VARS.values()), n=1)
            if close and close[0] in variables:
                hints.append(f"did you mean {close[0]} for the unknown variable {name}?")
        return hints
    tables = [config]
    if chosen and isinstance(config.get(chosen), Mapping):
        tables.append(config[chosen])
    known = sorted(KNOWN_KEYS | set(ALIASES))
    for table in tables:
        for name, value in table.items():
            if not isinstance(name, str) or _is_known(name):
                continue
            if isinstance(value, Mapping) and table is config:
                # A misspelt [oauth] table that holds the missing key.
                close = difflib.get_close_matches(name, BACKEND_TABLES, n=1)
                holds = base == "credential" or any(_names(value, key) for key in wanted)
                if close and chosen in (None, close[0]) and holds:
                    hints.append(f"did you mean [{close[0]}] for the unknown table [{name}]?")
                continue
            close = difflib.get_close_matches(name, known, n=1)
            if close and ALIASES.get(close[0], close[0]) in wanted:
                hints.append(f"did you mean {close[0]!r} for the unknown key {name!r}?")
    return hints


def _is_known(name: str) -> bool:
    return name in KNOWN_KEYS or name in ALIASES or name in IGNORED_KEYS or name in BACKEND_TABLES
