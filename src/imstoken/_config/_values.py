"""Value checks: strings, lists, seconds, booleans, tables, URLs and paths, with their errors."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from .._secret_files import read_regular_file
from ._urls import (
    has_control_character,
    host_problem,
    httpx_problem,
    is_header_safe,
    redis_url_problem,
    split_url,
)

_CONTROL = "must not contain a line break or other control character"


def config_error(key: str, message: str) -> ConfigError:
    """A ``ConfigError`` that names the key, never the value.

    ``build_settings`` adds where the key came from (its variable, or its file and table).
    """
    return ConfigError(message, key=key)


def as_str(key: str, value: Any, *, allow_empty: bool = False, multiline: bool = False) -> str:
    """The string, stripped; not empty unless ``allow_empty``; no control characters
    (CR, LF, NUL, ...) inside unless ``multiline`` (PEM text, passphrases)."""
    if not isinstance(value, str):
        raise config_error(key, f"must be a string, not {type(value).__name__}")
    text: str = value.strip()
    if not text and not allow_empty:
        raise config_error(key, "must not be empty")
    if not multiline and has_control_character(text):
        raise config_error(key, _CONTROL)
    return text


def as_header_value(key: str, value: Any) -> str:
    """A string sent as an HTTP header value (``x-api-key``, ...): printable ASCII only."""
    text = as_str(key, value)
    if not is_header_safe(text):
        raise config_error(key, "must be printable ASCII: it is sent as an HTTP header value")
    return text


def as_list(key: str, value: Any) -> tuple[str, ...]:
    """A list of strings, or one string split at commas and spaces; deduplicated, not empty."""
    if isinstance(value, str):
        items = [item.strip() for item in value.replace(" ", ",").split(",")]
    elif isinstance(value, list | tuple):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise config_error(key, f"must be a list of strings, found {type(item).__name__}")
            items.append(item.strip())
    else:
        raise config_error(key, f"must be a list of strings, not {type(value).__name__}")
    if any(has_control_character(item) for item in items):
        raise config_error(key, _CONTROL)
    cleaned = tuple(dict.fromkeys(item for item in items if item))
    if not cleaned:
        raise config_error(key, "must name at least one scope")
    return cleaned


def as_seconds(key: str, value: Any, *, minimum: float, maximum: float) -> float:
    """A number of seconds (or its text) between ``minimum`` and ``maximum``."""
    if isinstance(value, bool):
        raise config_error(key, "must be a number of seconds, not a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise config_error(key, "must be a number of seconds") from None
    if not isinstance(value, int | float):
        raise config_error(key, f"must be a number of seconds, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range (TOML and JSON allow them)
        number = math.inf
    if not math.isfinite(number) or not minimum <= number <= maximum:
        raise config_error(key, f"must be between {minimum:g} and {maximum:g} seconds")
    return number


def as_bool(key: str, value: Any) -> bool:
    """A boolean, or its text (true/false, 1/0, yes/no, on/off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise config_error(key, "must be true or false")


def pairs(key: str, value: Any) -> tuple[tuple[str, Any], ...]:
    """A table of non-empty string names to values, as pairs; ``()`` for None."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError("must be a table (mapping) of names to values", key=key)
    out = []
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigError("must have non-empty string names", key=key)
        out.append((name, item))
    return tuple(out)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        import ipaddress  # lazily, like difflib and tomllib: import time counts

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(key: str, value: Any) -> str:
    """An https URL, or http to a loopback host (tests, local IMS). No credentials in it.

    Checked as the first request would parse it (host labels, IDNA, port), so a bad URL is a
    ``ConfigError`` now rather than a failed request later.
    """
    text = as_str(key, value)
    split = split_url(text)
    if isinstance(split, str):
        raise config_error(key, split)
    parts, _port = split
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise config_error(key, "must be an https:// URL")
    if "@" in parts.netloc:
        raise config_error(key, "must not carry credentials in the URL")
    problem = host_problem(parts) or httpx_problem(text)
    if problem:
        raise config_error(key, problem)
    if parts.scheme == "http" and not _is_loopback(host):
        raise config_error(key, "must use https (plain http is only allowed to a loopback host)")
    if parts.fragment:
        raise config_error(key, "must not have a #fragment")
    if key == "ims_host":
        if parts.query:
            raise config_error(key, "must be a host URL without a ?query")
        if parts.path.rstrip("/").endswith(("/ims/token/v3", "/ims/token/v2", "/ims/exchange/jwt")):
            raise config_error(key, "is a token endpoint, not a host: set token_url for a full URL")
    return text.rstrip("/") if key == "ims_host" else text


def check_redis_url(key: str, text: str) -> str:
    """A ``redis://``, ``rediss://`` or ``unix://`` URL that the Redis client can open."""
    problem = redis_url_problem(text)
    if problem:
        raise config_error(key, problem)
    return text


def expand_user(path: Path, key: str | None = None) -> Path:
    """``~`` expanded; ``~name`` of an unknown user is a ConfigError, not a RuntimeError."""
    try:
        return path.expanduser()
    except RuntimeError:
        message = "starts with ~ but that home folder is unknown"
        if key is None:
            raise ConfigError(f"the path {str(path)!r} {message}") from None
        raise config_error(key, message) from None


def read_bytes(
    path: Path,
    problem: Callable[[str], ConfigError],
    *,
    missing: str = "does not exist",
    folder: str | None = None,
) -> bytes:
    """The file's bytes, or the ``ConfigError`` that ``problem`` makes of why it can't be read.

    ``missing`` and ``folder`` word a missing file and a folder (by default a folder is an
    unreadable file); the reason never holds the file's content.
    """
    try:
        return read_regular_file(path)
    except FileNotFoundError:
        raise problem(missing) from None
    except IsADirectoryError as exc:
        raise problem(folder or _unreadable(exc)) from None
    except OSError as exc:
        raise problem(_unreadable(exc)) from None
    except ValueError:  # a NUL character: no file can have that name
        raise problem("is not a valid file path") from None


def _unreadable(exc: OSError) -> str:
    if exc.strerror is None and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]  # "is not a regular file"
    return f"could not be read ({exc.strerror or type(exc).__name__})"
