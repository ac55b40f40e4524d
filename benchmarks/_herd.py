"""Herds: many callers needing a token at the same moment, and how many requests they cause.

The token endpoint is paused until every caller is inside its call and the first request has
arrived, then released: every caller provably overlaps the first request, so the count is a fact
about the library, not about scheduling luck. A watchdog thread releases the endpoint, so a
library that blocks the event loop cannot block its own release.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._subjects import Subject, TokenServer

WAIT_LIMIT = 30.0


@dataclass
class HerdResult:
    """Requests the endpoint received, callers served, distinct tokens, time after release."""

    requests: int
    callers: int
    served: int
    tokens: int
    seconds: float
    errors: list[str] = field(default_factory=list)


STUCK = 0.25  # no new caller for this long while a request is held: the rest cannot start


def _release_when(
    server: TokenServer, entered: Callable[[], int], callers: int, settle: float
) -> threading.Thread:
    """A thread that resumes the endpoint once every caller waits on the first request.

    A library that blocks the event loop on the network keeps the other tasks from starting
    while the endpoint is held: then the endpoint is released once no caller has started for
    a while, and the library pays for it in the "served after" time, not with a deadlock.
    """

    def watch() -> None:
        deadline = time.monotonic() + WAIT_LIMIT
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_entered = entered()
            if now_entered != seen:
                seen, since = now_entered, time.monotonic()
            if server.count() >= 1 and (
                now_entered >= callers or time.monotonic() - since > STUCK
            ):
                time.sleep(settle)  # lets stragglers pile up: not needed for a correct library
                break
            time.sleep(0.001)
        server.resume()

    return threading.Thread(target=watch, name="herd-release", daemon=True)


def herd_threads(
    server: TokenServer, subject: Subject, callers: int, *, settle: float = 0.05
) -> HerdResult:
    """``callers`` threads call ``subject.get()`` at once."""
    server.reset_counts()
    server.pause()
    barrier = threading.Barrier(callers)
    lock = threading.Lock()
    entered = [0]
    tokens: list[str] = []
    errors: list[str] = []

    def call() -> None:
        barrier.wait()
        with lock:
            entered[0] += 1
        try:
            token = subject.get()
        except Exception as error:
            with lock:
                errors.append(repr(error))
            return
        with lock:
            tokens.append(token)

    watchdog = _release_when(server, lambda: entered[0], callers, settle)
    threads = [threading.Thread(target=call, daemon=True) for _ in range(callers)]
    try:
        for thread in threads:
            thread.start()
        watchdog.start()
        watchdog.join(WAIT_LIMIT + settle + 1)
        released = time.perf_counter()
        for thread in threads:
            thread.join(WAIT_LIMIT)
        seconds = time.perf_counter() - released
    finally:
        server.resume()
    return HerdResult(
        server.count(), callers, len(tokens), len(set(tokens)), seconds, errors
    )


def herd_tasks(
    server: TokenServer, subject: Subject, callers: int, *, settle: float = 0.05
) -> HerdResult:
    """``callers`` asyncio tasks await ``subject.aget()`` at once, in one event loop."""
    assert subject.aget is not None
    aget = subject.aget
    server.reset_counts()
    server.pause()
    started = [0]
    errors: list[str] = []

    async def call() -> str | None:
        started[0] += 1
        try:
            return await aget()
        except Exception as error:
            errors.append(repr(error))
            return None

    async def main() -> tuple[list[str | None], float]:
        watchdog = _release_when(server, lambda: started[0], callers, settle)
        watchdog.start()
        tasks = [asyncio.ensure_future(call()) for _ in range(callers)]
        await asyncio.to_thread(watchdog.join, WAIT_LIMIT + settle + 1)
        released = time.perf_counter()
        results = await asyncio.gather(*tasks)
        seconds = time.perf_counter() - released
        await subject.aclose()
        return results, seconds

    try:
        results, seconds = asyncio.run(main())
    finally:
        server.resume()
    tokens = [token for token in results if token is not None]
    return HerdResult(server.count(), callers, len(tokens), len(set(tokens)), seconds, errors)


def herd_mixed(
    server: TokenServer, subject: Subject, threads: int, tasks: int, *, settle: float = 0.05
) -> HerdResult:
    """``threads`` threads and ``tasks`` asyncio tasks (in a loop of their own) at once."""
    assert subject.aget is not None
    aget = subject.aget
    server.reset_counts()
    server.pause()
    lock = threading.Lock()
    entered = [0]
    tokens: list[str] = []
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)

    def call() -> None:
        barrier.wait()
        with lock:
            entered[0] += 1
        try:
            token = subject.get()
        except Exception as error:
            with lock:
                errors.append(repr(error))
            return
        with lock:
            tokens.append(token)

    async def one() -> None:
        with lock:
            entered[0] += 1
        try:
            token = await aget()
        except Exception as error:
            with lock:
                errors.append(repr(error))
            return
        with lock:
            tokens.append(token)

    async def many() -> None:
        barrier.wait()
        await asyncio.gather(*(one() for _ in range(tasks)))
        await subject.aclose()

    watchdog = _release_when(server, lambda: entered[0], threads + tasks, settle)
    workers = [threading.Thread(target=call, daemon=True) for _ in range(threads)]
    workers.append(threading.Thread(target=asyncio.run, args=(many(),), daemon=True))
    try:
        for worker in workers:
            worker.start()
        watchdog.start()
        watchdog.join(WAIT_LIMIT + settle + 1)
        released = time.perf_counter()
        for worker in workers:
            worker.join(WAIT_LIMIT)
        seconds = time.perf_counter() - released
    finally:
        server.resume()
    return HerdResult(
        server.count(), threads + tasks, len(tokens), len(set(tokens)), seconds, errors
    )
