"""A wrapper that keeps secret strings out of repr, str, logs and tracebacks."""

from __future__ import annotations

import base64
import hmac
import json
import re
from typing import Final
from urllib.parse import quote, quote_plus

_MASK: Final = "**********"
# How an HTML page (an error page of a gateway, say) writes the characters it must escape.
_HTML_ENTITIES: Final = {
    "&": ("&amp;", "&#38;", "&#x26;"),
    "<": ("&lt;", "&#60;", "&#x3c;", "&#x3C;"),
    ">": ("&gt;", "&#62;", "&#x3e;", "&#x3E;"),
    '"': ("&quot;", "&#34;", "&#x22;"),
    "'": ("&#x27;", "&#39;", "&apos;"),
}


class Secret:
    """A secret string (client secret, passphrase, PEM text) that never shows itself.

    ``repr`` and ``str`` print a mask; the value is read with :meth:`reveal`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value. Call only where it goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other.reveal().encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling is allowed (multiprocessing), but only explicitly through the class.
        return (Secret, (self._value,))


def _any_case(hex_digits: str) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in hex_digits)


def _char_forms(ch: str) -> list[str]:
    """Patterns for one character of a secret: raw, percent-encoded, form-encoded, JSON."""
    forms = [re.escape(ch)]
    forms.append("".join("%" + _any_case(f"{byte:02x}") for byte in ch.encode("utf-8")))
    if ch == " ":
        forms.append(re.escape("+"))
    escaped = json.dumps(ch)[1:-1]
    if escaped != ch:
        forms.append(re.escape(escaped))
    if ord(ch) < 0x10000:
        forms.append(re.escape("\\u") + _any_case(f"{ord(ch):04x}"))
    else:  # JSON escapes it as a UTF-16 surrogate pair, in either hex case
        units = ch.encode("utf-16-be")
        forms.append("".join(re.escape("\\u") + _any_case(units[i : i + 2].hex()) for i in (0, 2)))
    forms.extend(re.escape(entity) for entity in _HTML_ENTITIES.get(ch, ()))
    if ch == "/":
        forms.append(re.escape("\\/"))
    return forms


def encoded_pattern(value: str) -> re.Pattern[str]:
    """A pattern for ``value`` in every text form a secret travels in: raw, percent-encoded
    (``quote``, ``quote_plus``; any hex case, any mix of encoded and plain characters),
    JSON-escaped (``ensure_ascii`` or not, ``\\/``, surrogate pairs) and HTML-escaped."""
    return re.compile("".join("(?:" + "|".join(_char_forms(ch)) + ")" for ch in value))


def base64_cores(value: str, *, minimum: int = 8) -> tuple[str, ...]:
    """What every base64 text that contains ``value`` contains, wherever it starts.

    Base64 maps 3 bytes to 4 characters, so ``value`` after ``k`` other bytes (``client_id:``
    in a Basic header, say) encodes differently for ``k % 3`` = 0, 1, 2: for each, the
    characters that depend on ``value``'s bytes alone (standard and URL-safe alphabets).
    """
    data = value.encode("utf-8")
    cores: list[str] = []
    for shift, first in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(bytes(shift) + data).decode("ascii")
        core = encoded[first : (shift + len(data)) * 8 // 6]
        if len(core) >= minimum:
            cores.append(core)
            urlsafe = core.replace("+", "-").replace("/", "_")
            if urlsafe != core:
                cores.append(urlsafe)
    return tuple(cores)


def redact_secrets(text: str, secrets: tuple[str, ...] | list[str], mask: str = "***") -> str:
    """``text`` with every secret (4 characters or more) masked, in every encoding above."""
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        text = encoded_pattern(secret).sub(mask, text)
        # In base64 the secret may be raw or form-encoded first (RFC 6749 Basic auth).
        for form in dict.fromkeys((secret, quote_plus(secret), quote(secret, safe=""))):
            for core in base64_cores(form):
                text = text.replace(core, mask)
    return text
