"""The shared-cache protocol: how a token is shared across processes (file) or hosts (Redis).

The memory layer (:mod:`imstoken._memory`) always sits in front; a shared cache is consulted
only when the memory copy is stale or missing. Implementations never raise for an unavailable
store: they log, answer "nothing cached" / "lock not taken", and let the provider fetch.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .._token import Token

logger = logging.getLogger("imstoken")


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


def open_shared_cache(spec: str, *, path: str | None, prefix: str) -> SharedCache | None:
    """Build the shared cache a ``cache`` setting names; ``memory`` needs none."""
    if spec in ("memory", "none"):
        return None
    if spec == "file":
        from ._file import FileCache

        return FileCache(path)
    from ._redis import RedisCache

    return RedisCache(spec, prefix=prefix)


# ---------------------------------------------------------------- shared by file and Redis caches

RECORD_VERSION = 1
_MAX_RECORD_BYTES = 64 * 1024  # an Adobe token is ~1-2 KB; anything far bigger is not ours


def encode_record(key: str, token: Token, obtained_at: float) -> bytes:
    """A token as stored: JSON with the cache key inside, so a misplaced entry is caught."""
    record = {
        "version": RECORD_VERSION,
        "key": key,
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "credential": token.credential,
        "scope": token.scope,
        "obtained_at": obtained_at,
    }
    return json.dumps(record, separators=(",", ":")).encode()


def decode_record(key: str, data: bytes | str) -> tuple[Token, float] | None:
    """The token in ``data`` if it is a well-formed record for ``key``; None for anything else."""
    if not data or len(data) > _MAX_RECORD_BYTES:
        return None
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    if record.get("key") != key:
        return None
    access_token = record.get("access_token")
    token_type = record.get("token_type")
    credential = record.get("credential")
    scope = record.get("scope")
    expires_at = _finite(record.get("expires_at"))
    obtained_at = _finite(record.get("obtained_at"))
    if (
        not isinstance(access_token, str)
        or not access_token
        or not isinstance(token_type, str)
        or credential not in ("jwt", "oauth")
        or not (scope is None or isinstance(scope, str))
        or expires_at is None
        or obtained_at is None
        or obtained_at > expires_at
    ):
        return None
    token = Token(
        access_token=access_token,
        token_type=token_type,
        expires_at=expires_at,
        credential=credential,
        scope=scope,
    )
    return token, obtained_at


def _finite(value: object) -> float | None:
    # bool is an int subclass; a record saying "expires_at": true is not ours.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class OutageLog:
    """One warning when a shared cache becomes unavailable, one info line when it is back.

    While it is down, :meth:`available` says "skip it" for ``retry_interval`` seconds, so an
    outage does not add a timeout to every token request.
    """

    def __init__(
        self,
        what: str,
        *,
        retry_interval: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what = what
        self._retry_interval = retry_interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        """Whether the last attempt failed."""
        return self._down

    def available(self) -> bool:
        """False while a recent failure says not to try yet."""
        return not self._down or self._monotonic() >= self._retry_at

    def failed(self, reason: str) -> None:
        """Record a failure; log a warning only for the first one of an outage."""
        with self._lock:
            first = not self._down
            self._down = True
            self._retry_at = self._monotonic() + self._retry_interval
        if first:
            logger.warning(
                "imstoken: %s unavailable (%s); using the memory cache and the token endpoint "
                "until it is back",
                self._what,
                reason,
            )

    def succeeded(self) -> None:
        """Record a success; log once if it ends an outage."""
        if not self._down:
            return
        with self._lock:
            was_down = self._down
            self._down = False
        if was_down:
            logger.info("imstoken: %s is available again", self._what)
