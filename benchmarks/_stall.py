"""The stall: callers at the refresh boundary, in real time, with a short-lived token.

Threads and asyncio tasks call in a loop while tokens cross into their refresh window again and
again. Each call is timed; a caller that waits on the network shows up as a call as long as the
endpoint's latency. Between calls each caller pauses briefly, as if it did its real work (a
busy-looping caller would measure the GIL's switch interval, not the library); the pauses are
jittered so that callers do not march in step, and a thread or a task is as likely as its share
of the calls to be the first to see a token go stale (and so to lead its refresh). A ticker task
measures how late the event loop runs, and every token handed out is checked against the
expiry the endpoint gave it.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass

from ._subjects import Subject, TokenServer

SLOW = 0.020  # a call longer than this is a stall
TICK = 0.002


@dataclass
class StallResult:
    """What the callers saw."""

    calls: int
    worst: float  # seconds
    worst_thread: float
    worst_task: float
    slow_calls: int
    loop_lag: float  # seconds
    requests: int
    crossings: int
    expired: int
    errors: int

    @property
    def requests_per_crossing(self) -> float:
        return self.requests / self.crossings if self.crossings else float("nan")


class _Tally:
    """One caller's figures, merged at the end (no shared lock on the measured path)."""

    def __init__(self) -> None:
        self.calls = 0
        self.worst = 0.0
        self.slow = 0
        self.expired = 0
        self.errors = 0


def _crossings(times: list[float], gap: float) -> int:
    """Refresh windows entered: requests closer than ``gap`` to the previous one share one."""
    crossings = 0
    last = float("-inf")
    for at in sorted(times):
        if at - last > gap:
            crossings += 1
        last = at
    return crossings


def _check(tally: _Tally, server: TokenServer, expiries: dict[str, float], token: str) -> None:
    now = time.time()
    expiry = expiries.get(token)
    if expiry is None:
        expiry = expiries[token] = server.expiry(token)
    if expiry <= now:
        tally.expired += 1


def run_stall(
    server: TokenServer,
    subject: Subject,
    *,
    lifetime: float,
    duration: float,
    threads: int = 8,
    tasks: int = 100,
    thread_pause: float = 0.001,
    task_pause: float = 0.005,
) -> StallResult:
    """Run the callers for ``duration`` seconds and report what they saw."""
    assert subject.aget is not None
    aget = subject.aget
    subject.get()  # the first token, and the sync HTTP client, exist before the clock starts
    stop = threading.Event()
    ready = threading.Event()
    thread_tallies = [_Tally() for _ in range(threads)]
    task_tallies = [_Tally() for _ in range(tasks)]
    lag = [0.0]
    baseline: list[int] = []

    def thread_caller(tally: _Tally) -> None:
        expiries: dict[str, float] = {}
        jitter = random.Random()
        ready.wait()
        time.sleep(thread_pause * jitter.random())
        while not stop.is_set():
            began = time.perf_counter()
            try:
                token = subject.get()
            except Exception:
                tally.errors += 1
                time.sleep(thread_pause)
                continue
            took = time.perf_counter() - began
            tally.calls += 1
            if took > tally.worst:
                tally.worst = took
            if took > SLOW:
                tally.slow += 1
            _check(tally, server, expiries, token)
            time.sleep(thread_pause * (0.5 + jitter.random()))

    async def task_caller(tally: _Tally) -> None:
        expiries: dict[str, float] = {}
        jitter = random.Random()
        await asyncio.sleep(task_pause * jitter.random())
        while not stop.is_set():
            began = time.perf_counter()
            try:
                token = await aget()
            except Exception:
                tally.errors += 1
                await asyncio.sleep(task_pause)
                continue
            took = time.perf_counter() - began
            tally.calls += 1
            if took > tally.worst:
                tally.worst = took
            if took > SLOW:
                tally.slow += 1
            _check(tally, server, expiries, token)
            await asyncio.sleep(task_pause * (0.5 + jitter.random()))

    async def ticker() -> None:
        while not stop.is_set():
            began = time.perf_counter()
            await asyncio.sleep(TICK)
            late = time.perf_counter() - began - TICK
            if late > lag[0]:
                lag[0] = late

    async def loop_main() -> None:
        await aget()  # the async HTTP client exists too: this is the steady state
        baseline.append(len(server.request_times()))
        ready.set()
        workers = [asyncio.ensure_future(task_caller(tally)) for tally in task_tallies]
        workers.append(asyncio.ensure_future(ticker()))
        await asyncio.gather(*workers)
        await subject.aclose()

    loop_thread = threading.Thread(target=asyncio.run, args=(loop_main(),), name="stall-loop")
    callers = [
        threading.Thread(target=thread_caller, args=(tally,), name="stall-caller")
        for tally in thread_tallies
    ]
    loop_thread.start()
    for caller in callers:
        caller.start()
    if not ready.wait(30):
        stop.set()
        raise RuntimeError("the event loop did not get its first token")
    time.sleep(duration)
    stop.set()
    for caller in callers:
        caller.join()
    loop_thread.join()
    times = server.request_times()[baseline[0] :]
    tallies = thread_tallies + task_tallies
    return StallResult(
        calls=sum(tally.calls for tally in tallies),
        worst=max(tally.worst for tally in tallies),
        worst_thread=max(tally.worst for tally in thread_tallies),
        worst_task=max(tally.worst for tally in task_tallies),
        slow_calls=sum(tally.slow for tally in tallies),
        loop_lag=lag[0],
        requests=len(times),
        crossings=_crossings(times, gap=lifetime / 4),
        expired=sum(tally.expired for tally in tallies),
        errors=sum(tally.errors for tally in tallies),
    )
