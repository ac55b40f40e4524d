"""The access token value object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CredentialKind = Literal["jwt", "oauth"]


@dataclass(frozen=True, slots=True)
class Token:
    """An access token: immutable, and its ``repr``/``str`` never show the token itself.

    ``expires_at`` is the real expiry in Unix seconds (UTC): the clock read just before the
    request was sent plus ``expires_in``. ``credential`` says which backend minted it.
    """

    access_token: str = field(repr=False)
    token_type: str
    expires_at: float
    credential: CredentialKind
    scope: str | None = None

    def __repr__(self) -> str:
        return (
            f"Token(token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"credential={self.credential!r}, access_token='***')"
        )

    __str__ = __repr__
