"""What the herd and stall benchmarks call: imstoken, or a peer library, behind one shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import imstoken
from imstoken.testing import Credential, LocalIMS, clear_memory_cache, decode_access_token


class TokenServer(Protocol):
    """What both loopback token endpoints offer (``LocalIMS`` and the peers' OAuth server)."""

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def count(self) -> int: ...
    def reset_counts(self) -> None: ...
    def request_times(self) -> list[float]:
        """When each request since the last ``reset_counts`` arrived (Unix seconds)."""
        ...
    def expiry(self, access_token: str) -> float:
        """The instant the server says this token expires (Unix seconds)."""
        ...


async def _nothing() -> None:
    return None


@dataclass
class Subject:
    """A token source: ``get`` returns a valid access token, ``aget`` the same for asyncio."""

    name: str
    get: Callable[[], str]
    aget: Callable[[], Awaitable[str]] | None = None
    close: Callable[[], None] = field(default=lambda: None)
    aclose: Callable[[], Awaitable[None]] = field(default=_nothing)


class IMS(LocalIMS):
    """``LocalIMS`` with the lookups the stall benchmark needs."""

    def __enter__(self) -> IMS:
        self.start()
        return self

    def request_times(self) -> list[float]:
        with self._lock:
            return [request.at for request in self.requests]

    def expiry(self, access_token: str) -> float:
        claims = decode_access_token(access_token)
        return (int(claims["created_at"]) + int(claims["expires_in"])) / 1000


def imstoken_subject(
    cred: Credential, credential: str = "oauth", **extra: Any
) -> tuple[Subject, imstoken.TokenProvider]:
    """A new provider with an empty process-wide cache, as a Subject."""
    clear_memory_cache()
    provider = imstoken.from_config(cred.config(credential, **extra))

    def get() -> str:
        return provider.get_token().access_token

    async def aget() -> str:
        return (await provider.aget_token()).access_token

    subject = Subject(
        name=f"imstoken {imstoken.__version__}",
        get=get,
        aget=aget,
        close=provider.close,
        aclose=provider.aclose,
    )
    return subject, provider
