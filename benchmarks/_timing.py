"""Interleaved rounds: every case of a round runs back to back, so they share the machine's mood.

A noisy machine slows a whole round down; the per-round ratio to the floor barely moves. The
median over rounds then drops the rounds a neighbour's burst of work spoiled.
"""

from __future__ import annotations

import gc
import statistics
import time
import timeit
from collections.abc import Awaitable, Callable, Mapping, Sequence

SyncCase = Callable[[], object]
AsyncCase = Callable[[], Awaitable[object]]


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def _calibrate_sync(case: SyncCase, batch: float) -> int:
    case()  # a first call may fetch a token or build a client: not what is measured
    number = 1
    while True:
        elapsed = timeit.timeit(case, number=number)
        if elapsed >= batch / 4 or number >= 10_000_000:
            return max(1, int(number * batch / max(elapsed, 1e-9)))
        number *= 4


def sync_rounds(
    cases: Mapping[str, SyncCase], *, rounds: int, batch: float
) -> dict[str, list[float]]:
    """Microseconds per call of each case, one value per round (cases rotate within a round)."""
    numbers = {name: _calibrate_sync(case, batch) for name, case in cases.items()}
    names = list(cases)
    results: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            number = numbers[name]
            elapsed = timeit.timeit(cases[name], number=number)  # timeit turns gc off
            results[name].append(elapsed / number * 1e6)
    return results


async def _run_async(case: AsyncCase, number: int) -> float:
    began = time.perf_counter()
    for _ in range(number):
        await case()
    return time.perf_counter() - began


async def async_rounds(
    cases: Mapping[str, AsyncCase], *, rounds: int, batch: float
) -> dict[str, list[float]]:
    """Like :func:`sync_rounds`, for coroutine functions awaited in a loop (in one event loop)."""
    numbers: dict[str, int] = {}
    for name, case in cases.items():
        await case()  # a first call may fetch a token or build a client: not what is measured
        number = 1
        while True:
            elapsed = await _run_async(case, number)
            if elapsed >= batch / 4 or number >= 10_000_000:
                numbers[name] = max(1, int(number * batch / max(elapsed, 1e-9)))
                break
            number *= 4
    names = list(cases)
    results: dict[str, list[float]] = {name: [] for name in names}
    enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed = await _run_async(cases[name], numbers[name])
                results[name].append(elapsed / numbers[name] * 1e6)
    finally:
        if enabled:
            gc.enable()
    return results


def ratio_median(figure: Sequence[float], floor: Sequence[float]) -> float:
    """The median of the per-round ratios figure / floor."""
    return median([f / b for f, b in zip(figure, floor, strict=True)])


def difference_median(figure: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of the per-round differences figure - baseline."""
    return median([f - b for f, b in zip(figure, baseline, strict=True)])
