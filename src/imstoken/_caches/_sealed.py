"""SealedCache: a record store (file, Redis) as a SharedCache whose records are sealed and checked.

Every record is sealed (:mod:`imstoken._caches._seal`) before it is written, and trusted after a
read only if it opens under this credential's material and cache key and its instants are
plausible (:func:`imstoken._caches._record.decode_record`). Anything else (a planted record, one
copied from another credential, a tampered byte, one sealed under another secret, a plaintext
record of an older imstoken) is ignored, so the caller fetches and the next store replaces it;
one WARNING per store and key, re-armed once a good record is stored there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .._token import Token
from ._protocol import LockHandle, RecordStore, SharedCache
from ._record import decode_record, encode_record
from ._seal import Sealer

logger = logging.getLogger("imstoken")

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


class SealedCache:
    """A :class:`~imstoken._caches.SharedCache` over a :class:`RecordStore`, sealing its records."""

    def __init__(
        self,
        store: RecordStore,
        material: Callable[[], bytes],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store_backend = store
        self._sealer = Sealer(material)
        self._clock = clock

    def __repr__(self) -> str:
        return f"SealedCache({self.store_backend!r})"

    def load(self, key: str) -> tuple[Token, float] | None:
        """The token stored for ``key`` if its record opens and is plausible, else None."""
        record = self.store_backend.read(key)
        if record is None:
            return None
        plaintext = self._sealer.open(key, record)
        found = None if plaintext is None else decode_record(key, plaintext, self._clock())
        if found is None:
            self._warn_once(key, "does not open" if plaintext is None else "is implausible")
        return found

    def store(self, key: str, token: Token, obtained_at: float) -> None:
        """Seal and save ``token`` for as long as it lives."""
        ttl = token.expires_at - self._clock()
        if ttl <= 0:
            return
        record = self._sealer.seal(key, encode_record(key, token, obtained_at))
        self.store_backend.write(key, record, ttl)
        with _warned_lock:
            _warned.discard((repr(self.store_backend), key))

    def delete(self, key: str) -> None:
        """Forget the record for ``key``."""
        self.store_backend.delete(key)

    def acquire(self, key: str, ttl: float, wait: float) -> LockHandle | None:
        """The store's refresh lock for ``key``."""
        return self.store_backend.acquire(key, ttl, wait)

    def release(self, handle: LockHandle) -> None:
        """Release a lock taken by :meth:`acquire`."""
        self.store_backend.release(handle)

    def close(self) -> None:
        """Close the store."""
        self.store_backend.close()

    def _warn_once(self, key: str, problem: str) -> None:
        mark = (repr(self.store_backend), key)
        with _warned_lock:
            if mark in _warned:
                return
            _warned.add(mark)
        logger.warning(
            "imstoken: ignoring a shared-cache record for %s in %r that %s (planted, tampered, "
            "from another credential or secret, or an older format); fetching a new token",
            key,
            self.store_backend,
            problem,
        )


def seal_shared(
    shared: SharedCache | RecordStore,
    material: Callable[[], bytes],
    *,
    clock: Callable[[], float] = time.time,
) -> SharedCache:
    """``shared`` as the provider uses it: a record store gets sealed, a SharedCache is kept."""
    if isinstance(shared, RecordStore):
        return SealedCache(shared, material, clock=clock)
    return shared
