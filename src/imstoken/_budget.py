"""One fetch's time budget: shared-cache calls, lock waits and the endpoint all spend ``deadline``.

A shared cache is a shortcut, never a reason to be late: a cache call is made only while what
is left after it (by the latency that store showed lately) still covers the endpoint's reserve;
otherwise the fetch skips the shared cache and goes to the endpoint with what is left. A call
that is made is also waited for only until that reserve (:meth:`Budget.cache_window`): one that
runs longer is abandoned (:mod:`imstoken._caches._bounded`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

#: An estimate not refreshed by a call halves every this many seconds, so a store that was slow
#: once (and is therefore skipped) is tried again later instead of never.
LATENCY_HALF_LIFE = 10.0


@dataclass(slots=True)
class CacheLatency:
    """How long a shared-cache call took lately: the last one, or half the previous estimate."""

    seconds: float = 0.0
    observed_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, seconds: float, now: float | None = None) -> None:
        """Record one call's duration; a slow store is remembered, a fast one forgets slowly."""
        with self._lock:
            self.seconds = max(seconds, self.estimate(now) / 2)
            self.observed_at = now

    def estimate(self, now: float | None = None) -> float:
        """The expected duration of the next call at monotonic time ``now`` (decayed since the
        last observation; without ``now``, the last figure as it is)."""
        if now is None or self.observed_at is None:
            return self.seconds
        idle = max(0.0, now - self.observed_at)
        return self.seconds * math.pow(0.5, idle / LATENCY_HALF_LIFE)


@dataclass(slots=True)
class Budget:
    """What is left of one fetch's ``deadline``, on a monotonic clock."""

    monotonic: Callable[[], float]
    deadline: float
    reserve: float
    began: float = field(init=False)

    def __post_init__(self) -> None:
        self.began = self.monotonic()

    @classmethod
    def for_fetch(cls, monotonic: Callable[[], float], deadline: float, timeout: float) -> Budget:
        """A fetch's budget; the endpoint keeps one attempt's ``timeout`` or half the deadline."""
        return cls(monotonic, deadline, min(timeout, deadline / 2))

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once past it)."""
        return self.deadline - (self.monotonic() - self.began)

    def allows(self, cost: float, calls: int = 1) -> bool:
        """Whether ``calls`` cache calls of ``cost`` seconds each still leave the reserve."""
        return self.remaining() - cost * calls >= self.reserve

    def cache_window(self) -> float:
        """How long a cache call made now may be waited for: until only the reserve is left."""
        return self.remaining() - self.reserve

    def lock_wait(self, wanted: float, cost: float) -> float:
        """How long a lock may be waited for, leaving ``cost`` and the reserve (at least 0)."""
        return max(0.0, min(wanted, self.remaining() - cost - self.reserve))

    def for_endpoint(self) -> float:
        """The deadline the endpoint's retries get: what is left, but never less than half
        the reserve (a cache call that ran over its estimate must not starve the fetch)."""
        return max(self.remaining(), self.reserve / 2)
