"""Backoff for transient token-endpoint failures: exponential with jitter, honouring Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._errors import TokenRequestError


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter ("decorrelated" enough for a fleet)."""

    base: float = 0.5
    cap: float = 8.0
    max_attempts: int = 6

    def delay(self, attempt: int, error: TokenRequestError, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling: float = min(self.cap, self.base * (2.0 ** (attempt - 1)))
        delay: float = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay


def should_retry(error: TokenRequestError, attempt: int, backoff: Backoff) -> bool:
    """Retry only what can fix itself, and only so many times."""
    return error.retryable and attempt < backoff.max_attempts
