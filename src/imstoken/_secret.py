"""A wrapper that keeps secret strings out of repr, str, logs and tracebacks."""

from __future__ import annotations

import hmac
from typing import Final

_MASK: Final = "**********"


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
