"""The shared-cache protocol: how a token is shared across processes (file) or hosts (Redis).

The memory layer (:mod:`imstoken._slots`) always sits in front; a shared cache is consulted
only when the memory copy is stale or missing. Implementations never raise for an unavailable
store: they log, answer "nothing cached" / "lock not taken", and let the provider fetch.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .._token import Token


class LockHandle(Protocol):
    """An acquired cross-process lock; released by the cache that issued it."""


class SharedCache(Protocol):
    """Storage plus a single-flight lock shared beyond this process."""

    def load(self, key: str) -> tuple[Token, float] | None:
        """The cached token and the Unix time it was obtained, or None."""
        ...

    def store(self, key: str, token: Token, obtained_at: float) -> None:
        """Save a token for others; entries expire with the token."""
        ...

    def delete(self, key: str) -> None:
        """Forget the token for ``key`` (after a 401, or ``invalidate()``)."""
        ...

    def acquire(self, key: str, ttl: float, wait: float) -> LockHandle | None:
        """Take the refresh lock for ``key``, waiting up to ``wait`` seconds.

        The lock expires after ``ttl`` seconds so that a crashed holder cannot block others.
        Returns None when it could not be taken (the caller then fetches anyway).
        """
        ...

    def release(self, handle: LockHandle) -> None:
        """Release a lock taken by :meth:`acquire`, only if this caller still owns it."""
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...


@runtime_checkable
class RecordStore(Protocol):
    """Where sealed records live (a folder, a Redis): bytes in, bytes out, plus the lock.

    The file and Redis caches are record stores; :class:`~imstoken._caches._sealed.SealedCache`
    turns one into a :class:`SharedCache` by sealing and checking what goes in and out.
    """

    def read(self, key: str) -> bytes | None:
        """The record stored for ``key``, or None (missing, unreadable or untrusted)."""
        ...

    def write(self, key: str, record: bytes, ttl: float) -> None:
        """Store ``record`` for ``key``; it may be dropped after ``ttl`` seconds."""
        ...

    def delete(self, key: str) -> None:
        """Forget the record for ``key``."""
        ...

    def acquire(self, key: str, ttl: float, wait: float) -> LockHandle | None:
        """Take the refresh lock for ``key`` (see :meth:`SharedCache.acquire`)."""
        ...

    def release(self, handle: LockHandle) -> None:
        """Release a lock taken by :meth:`acquire`, only if this caller still owns it."""
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...
