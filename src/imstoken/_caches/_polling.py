"""Waiting for a cross-process lock: short, growing pauses until a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pacing:
    """How a lock is polled: the first and the longest pause, and the clock and sleep used."""

    first_pause: float
    max_pause: float
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def poll(
    attempt: Callable[[], T | None],
    wait: float,
    pacing: Pacing,
    *,
    jitter: Callable[[], float] = lambda: 1.0,
    give_up: Callable[[], bool] = lambda: False,
) -> T | None:
    """``attempt()`` until it returns something, ``give_up()`` says stop, or ``wait`` is spent.

    The wait is measured on ``monotonic`` and also as the sum of the pauses asked of ``sleep``,
    so an injected clock that never moves (or a ``sleep`` that returns at once) still ends it.
    The last pause ends at the deadline, so a lock freed just then is still taken.
    """
    monotonic = pacing.monotonic
    deadline = monotonic() + max(wait, 0.0)
    slept = 0.0
    pause = pacing.first_pause
    while True:
        result = attempt()
        if result is not None:
            return result
        if give_up():
            return None
        remaining = min(deadline - monotonic(), wait - slept)
        if remaining <= 0:
            return None
        # Never a zero pause: a pause is what bounds the wait when the clock does not move.
        step = min(max(pause * jitter(), pacing.first_pause / 2), remaining)
        pacing.sleep(step)
        slept += step
        pause = min(pause * 2, pacing.max_pause)
