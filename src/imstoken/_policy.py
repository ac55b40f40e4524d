"""When a token is fresh, stale or expired: one place, pure functions of the token and "now"."""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass

from ._token import Token

# For day-long Adobe tokens: refresh in the background 5 minutes ahead, never hand out a token
# with less than a minute left. Short-lived tokens get the same shape, scaled to their lifetime.
DEFAULT_REFRESH_WINDOW = 300.0
DEFAULT_MIN_VALIDITY = 60.0
# A failed background refresh waits this long (scaled down for short tokens) before the next.
REFRESH_RETRY_DELAY = 30.0
# Background refreshes start at a random point of the first 90% of the stale window: providers
# started together (a fleet, or one process serving many credentials) do not refresh together,
# and the last tenth of the window is left for a retry before callers would have to wait.
REFRESH_SPREAD = 0.9

_process_rng = random.Random()  # noqa: S311 - timing jitter, not cryptography


def process_rng() -> random.Random:
    """The process's jitter source, reseeded in a forked child (siblings must not agree)."""
    return _process_rng


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_process_rng.seed)


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """The timing rules. ``None`` means "the default, scaled to the token's lifetime".

    ``refresh_spread``: the fraction of the refresh window over which the start of the
    background refresh is drawn at random (0: always at the window's start).
    """

    refresh_window: float | None = None
    min_validity: float | None = None
    refresh_retry_delay: float = REFRESH_RETRY_DELAY
    refresh_spread: float = REFRESH_SPREAD

    def entry(
        self,
        token: Token,
        obtained_at: float,
        headers: dict[str, str],
        monotonic_offset: float = 0.0,
        rng: random.Random | None = None,
    ) -> Entry:
        """Precompute the instants that the hot path compares against.

        ``monotonic_offset`` is ``monotonic() - clock()`` when the entry is made: the same
        instants on the monotonic clock guard against a wall clock that steps back. With an
        ``rng``, the refresh starts at a random point of the first ``refresh_spread`` of the
        window; without one, at the window's start.
        """
        lifetime = max(token.expires_at - obtained_at, 0.0)
        min_validity = (
            self.min_validity
            if self.min_validity is not None
            else min(DEFAULT_MIN_VALIDITY, 0.1 * lifetime)
        )
        window = (
            self.refresh_window
            if self.refresh_window is not None
            else min(DEFAULT_REFRESH_WINDOW, 0.5 * lifetime)
        )
        # Stale never starts before usability ends minus the window, and never after it.
        usable_until = token.expires_at - min_validity
        stale_at = min(usable_until, max(obtained_at, usable_until - window))
        if rng is not None and self.refresh_spread > 0.0:
            # Drawn once per entry: the hot path still compares against one number.
            stale_at += rng.random() * min(self.refresh_spread, 1.0) * (usable_until - stale_at)
        return Entry(
            token=token,
            obtained_at=obtained_at,
            stale_at=stale_at,
            usable_until=usable_until,
            lifetime=lifetime,
            headers=headers,
            mono_stale_at=stale_at + monotonic_offset,
            mono_usable_until=usable_until + monotonic_offset,
        )

    def retry_delay(self, entry: Entry | None) -> float:
        """How long a failed background refresh waits before the next attempt."""
        if entry is None:
            return 0.0
        return max(0.5, min(self.refresh_retry_delay, 0.1 * entry.lifetime))


@dataclass(frozen=True, slots=True, repr=False)
class Entry:
    """A cached token with its precomputed instants (Unix seconds)."""

    token: Token
    obtained_at: float
    stale_at: float
    usable_until: float
    lifetime: float
    headers: dict[str, str]
    # stale_at and usable_until on the monotonic clock: a wall clock stepped back (NTP, an
    # operator) must not keep a token past its real expiry; a wall clock stepped forward is
    # caught by the wall-clock instants.
    mono_stale_at: float = math.inf
    mono_usable_until: float = math.inf
    def __repr__(self) -> str:
        return f"Entry({self.token!r}, stale_at={self.stale_at}, usable_until={self.usable_until})"

    def is_fresh(self, now: float, mono: float = -math.inf) -> bool:
        """Servable without any refresh. A clock that went back before ``obtained_at`` is not."""
        return self.obtained_at <= now < self.stale_at and mono < self.mono_stale_at

    def is_usable(self, now: float, mono: float = -math.inf) -> bool:
        """Still valid for at least the minimum validity margin, by both clocks."""
        return now < self.usable_until and mono < self.mono_usable_until
