"""TOML output: strings, keys, values and documents that round-trip through ``tomllib``."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_key(name: str) -> str:
    """A bare key when TOML allows one, else a quoted key."""
    return name if _BARE_KEY.fullmatch(name) else toml_string(name)


def toml_value(value: Any) -> str:
    """One TOML value: string, boolean, number, list, or inline table."""
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def render_toml(
    config: Mapping[str, Any],
    *,
    header: Sequence[str] = (),
    notes: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A TOML document: top-level keys first, then one ``[table]`` per nested mapping.

    ``header`` lines and ``notes[table]`` lines are written as ``#`` comments (``""`` for the
    top level). Only values that round-trip through :mod:`tomllib` are accepted.
    """
    notes = notes or {}
    lines = [f"# {line}" if line else "#" for line in header]
    scalars = {k: v for k, v in config.items() if not _is_table(v)}
    tables = {k: v for k, v in config.items() if _is_table(v)}
    lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in scalars.items())
    lines.extend(f"# {line}" for line in notes.get("", ()))
    for name, table in tables.items():
        lines.append("")
        lines.append(f"[{toml_key(name)}]")
        lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items())
        lines.extend(f"# {line}" for line in notes.get(name, ()))
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    # A mapping that is an env reference ({ env = "NAME" }) stays an inline value.
    return isinstance(value, Mapping) and set(value) != {"env"}
