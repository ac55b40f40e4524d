"""The Redis cache: one token shared by every process on every host that uses the same Redis.

``cache = "redis://host:port/db"`` (also ``rediss://`` for TLS, ``unix://`` for a socket,
``redis+cluster://`` and ``redis+sentinel://``: see ``_redis_connect``; a password in the URL
works). Needs the ``redis`` extra. The token is stored under ``<prefix>:token:{<cache key>}``
with a Redis TTL equal to the token's remaining lifetime; the single-flight lock is
``<prefix>:lock:{<cache key>}`` (the braces are a hash tag: both keys of a credential live in one
Redis Cluster slot), taken with ``SET NX PX`` and a random owner
value, and released by a compare-and-delete script, so only its owner can release it and a
crashed holder's lock expires on its own.

Security: the stored value is a sealed record (:mod:`imstoken._caches._sealed`): a client with
access to that Redis database, a replica, a backup or an RDB/AOF file learns no usable token
without the credential's secret, and cannot plant one. A key without a TTL is not trusted. Still
use a Redis that only your services reach, with a password or ACL user, and TLS
(``rediss://``) across untrusted networks (a reader can still delete records or take locks).
Key names hold only the prefix and the cache key, a hash of the credential's identity.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._breaker import CircuitBreaker
from ._polling import Pacing, poll
from ._redis_connect import connect, redact_url, url_secrets

logger = logging.getLogger("imstoken")

T = TypeVar("T")

# Lock polling: fast at first (a refresh usually takes tens of milliseconds), then slower with
# jitter so a fleet of waiters does not poll Redis in lockstep.
_FIRST_POLL = 0.005
_MAX_POLL = 0.1

# Delete the lock only if it still holds our owner value: after our lock expired and another
# process took it, a late release must not drop theirs.
_RELEASE_SCRIPT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


@dataclass(slots=True)
class RedisLock:
    """A held Redis lock: its key and the random value that proves ownership."""

    name: str
    owner: str = field(repr=False)


class RedisCache:
    """A :class:`~imstoken._caches.RecordStore` in Redis, for many processes on many hosts.

    Never raises to the provider: when Redis is down, slow or refuses authentication, every
    method answers "nothing cached" / "lock not taken" / does nothing, one warning is logged per
    outage (the URL shown without its password), and Redis is tried again after
    ``retry_interval`` seconds; its return is logged once. Timeouts are short so an outage costs
    a token request at most about a second.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "imstoken",
        socket_timeout: float = 1.0,
        connect_timeout: float = 1.0,
        retry_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        connection = connect(
            url, socket_timeout=socket_timeout, connect_timeout=connect_timeout
        )
        self._errors: tuple[type[BaseException], ...] = connection.errors
        self._display = redact_url(url)
        self._scrub = url_secrets(url)
        self._client: Any = connection.client
        prefix = prefix.strip(":")
        self._prefix = f"{prefix}:" if prefix else ""
        self._release_script: Any = self._client.register_script(_RELEASE_SCRIPT)
        self._clock = clock
        self._pacing = Pacing(_FIRST_POLL, _MAX_POLL, monotonic, sleep)
        self._outage = CircuitBreaker(
            f"Redis cache at {self._display}", retry_interval=retry_interval, monotonic=monotonic
        )
        self._rng = random.Random()  # noqa: S311 - poll jitter, not cryptography
        self._closed = False

    def __repr__(self) -> str:
        return f"RedisCache({self._display!r}, prefix={self._prefix.rstrip(':')!r})"

    def token_key(self, key: str) -> str:
        """The Redis key that holds the token for cache key ``key``."""
        return f"{self._prefix}token:{{{key}}}"

    def lock_key(self, key: str) -> str:
        """The Redis key of the refresh lock for cache key ``key``."""
        return f"{self._prefix}lock:{{{key}}}"

    # ------------------------------------------------------------------ the protocol

    def read(self, key: str) -> bytes | None:
        """The record stored for ``key``, or None (also when Redis is unavailable).

        A key without a TTL is not trusted: imstoken always writes one, so it was planted.
        """

        def get_with_ttl() -> Any:
            pipe = self._client.pipeline(transaction=False)
            name = self.token_key(key)
            pipe.get(name)
            pipe.pttl(name)
            return pipe.execute()

        answer = self._call(get_with_ttl, None)
        if not isinstance(answer, list | tuple) or len(answer) != 2:
            return None
        data, ttl_ms = answer
        if not isinstance(data, bytes | str) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
            return None
        return data.encode() if isinstance(data, str) else data

    def write(self, key: str, record: bytes, ttl: float) -> None:
        """Save ``record`` with a Redis TTL of ``ttl`` seconds (the token's remaining life)."""
        ttl_ms = int(ttl * 1000)
        if ttl_ms <= 0:
            return
        self._call(lambda: self._client.set(self.token_key(key), record, px=ttl_ms), None)

    def delete(self, key: str) -> None:
        """Forget the token for ``key``."""
        self._call(lambda: self._client.delete(self.token_key(key)), None)

    def acquire(self, key: str, ttl: float, wait: float) -> RedisLock | None:
        """Take the lock for ``key`` (it expires after ``ttl`` s), polling up to ``wait`` s."""
        name = self.lock_key(key)
        owner = secrets.token_hex(16)
        ttl_ms = max(int(ttl * 1000), 1)

        def attempt() -> RedisLock | None:
            taken = self._call(lambda: self._client.set(name, owner, nx=True, px=ttl_ms), None)
            return RedisLock(name, owner) if taken else None

        # Jittered pauses, so a fleet of waiters does not poll Redis in lockstep; no point
        # waiting for a lock in a Redis we cannot reach.
        return poll(
            attempt,
            wait,
            self._pacing,
            jitter=lambda: 0.5 + self._rng.random(),
            give_up=lambda: self._outage.down or self._closed,
        )

    def release(self, handle: object) -> None:
        """Release a lock from :meth:`acquire` if this caller still owns it."""
        if not isinstance(handle, RedisLock):
            return
        self._call(lambda: self._release_script(keys=[handle.name], args=[handle.owner]), None)

    def close(self) -> None:
        """Close the connection pool; later calls answer as if Redis were unavailable."""
        self._closed = True
        try:
            self._client.close()
        except self._errors:
            pass

    # ------------------------------------------------------------------ failures

    def _call(self, operation: Callable[[], T], default: T) -> T:
        if self._closed or not self._outage.available():
            return default
        try:
            result = operation()
        except self._errors as error:
            self._outage.failed(self._reason(error))
            return default
        self._outage.succeeded()
        return result

    def _reason(self, error: BaseException) -> str:
        text = f"{type(error).__name__}: {error}"
        for secret in self._scrub:
            text = text.replace(secret, "***")
        return text[:300]
