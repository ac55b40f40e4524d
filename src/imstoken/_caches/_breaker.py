"""A circuit breaker for a shared cache: skip a store that just failed, log its outage once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .. import _metrics as metrics

logger = logging.getLogger("imstoken")


class CircuitBreaker:
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
            metrics.cache_outage(self._what)
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
