"""The fleet figure (issue 13, part 5): token requests for a whole fleet, first use and refreshes.

One host: ``processes`` fresh interpreters sharing a file cache, each with ``threads`` threads
and ``tasks`` asyncio tasks calling for a token in a loop. Three hosts: three such groups, each
with a cache folder of its own, all sharing one Redis (and, for contrast, the same three groups
with their file caches only). Tokens are short-lived on the local IMS so that the run crosses
several refreshes in a few seconds; the processes start calling together at a barrier.

Requests are grouped into token generations (requests closer together than a fifth of the
lifetime belong to one); one request per generation is the target.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ._processes import SPAWN
from ._subjects import IMS

JOIN_LIMIT = 120.0


@dataclass
class FleetResult:
    """What one fleet run saw."""

    hosts: int
    processes: int
    callers: int  # threads + tasks, over the fleet
    requests: int
    generations: int  # first use + refreshes
    most_per_generation: int
    calls: int
    expired: int
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """One request per generation, nothing expired, no error."""
        return (
            self.most_per_generation == 1 and self.expired == 0 and not self.errors
            and self.generations >= 2
        )


def worker(
    config: dict[str, Any],
    threads: int,
    tasks: int,
    duration: float,
    pause: float,
    barrier: Any,
    results: Any,
) -> None:
    """In a child process: one provider; threads and tasks call it until ``duration`` is over."""
    import imstoken

    provider = imstoken.from_config(config)
    counts = {"calls": 0, "expired": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def record(token: imstoken.Token) -> None:
        late = token.expires_at <= time.time()
        with lock:
            counts["calls"] += 1
            counts["expired"] += late

    barrier.wait(timeout=JOIN_LIMIT)
    end = time.monotonic() + duration

    def thread_loop() -> None:
        while time.monotonic() < end:
            try:
                record(provider.get_token())
            except Exception as error:
                errors.append(repr(error))
            time.sleep(pause)

    async def task_loop() -> None:
        while time.monotonic() < end:
            try:
                record(await provider.aget_token())
            except Exception as error:
                errors.append(repr(error))
            await asyncio.sleep(pause * 5)

    async def all_tasks() -> None:
        await asyncio.gather(*(task_loop() for _ in range(tasks)))
        await provider.aclose()

    running = [threading.Thread(target=thread_loop) for _ in range(threads)]
    for thread in running:
        thread.start()
    asyncio.run(all_tasks())
    for thread in running:
        thread.join()
    provider.close()
    results.put((counts["calls"], counts["expired"], errors[:5]))


def generations(times: list[float], gap: float) -> list[int]:
    """Requests per generation: requests closer than ``gap`` seconds belong to one."""
    groups: list[int] = []
    last = None
    for at in sorted(times):
        if last is None or at - last > gap:
            groups.append(0)
        groups[-1] += 1
        last = at
    return groups


def run_fleet(
    ims: IMS,
    configs: list[dict[str, Any]],
    *,
    threads: int,
    tasks: int,
    duration: float,
    pause: float = 0.02,
    hosts: int = 1,
) -> FleetResult:
    """One process per config in ``configs``; all start calling together."""
    barrier = SPAWN.Barrier(len(configs) + 1)
    results = SPAWN.Queue()
    children = []
    ims.reset_counts()
    began = time.monotonic()
    try:
        for config in configs:
            child = SPAWN.Process(
                target=worker,
                args=(config, threads, tasks, duration, pause, barrier, results),
                daemon=True,
            )
            child.start()
            children.append(child)
        barrier.wait(timeout=JOIN_LIMIT)
        outcome = [results.get(timeout=JOIN_LIMIT + duration) for _ in configs]
        for child in children:
            child.join(JOIN_LIMIT)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(5)
    groups = generations(ims.request_times(), 0.2 * ims.token_lifetime)
    return FleetResult(
        hosts=hosts,
        processes=len(configs),
        callers=len(configs) * (threads + tasks),
        requests=ims.count(),
        generations=len(groups),
        most_per_generation=max(groups, default=0),
        calls=sum(calls for calls, _, _ in outcome),
        expired=sum(expired for _, expired, _ in outcome),
        errors=[error for _, _, errs in outcome for error in errs],
        seconds=time.monotonic() - began,
    )


def one_host(
    ims: IMS, processes: int, threads: int, tasks: int, duration: float
) -> FleetResult:
    """``processes`` processes sharing one file cache folder."""
    cred = ims.add_credential()
    with tempfile.TemporaryDirectory(prefix="imstoken-fleet-") as folder:
        config = cred.config("oauth", cache="file", cache_path=folder)
        return run_fleet(
            ims, [config] * processes, threads=threads, tasks=tasks, duration=duration
        )


def three_hosts(
    ims: IMS,
    per_host: int,
    threads: int,
    tasks: int,
    duration: float,
    redis_url: str | None,
) -> FleetResult:
    """Three groups with their own cache folders; ``redis_url``: all share that Redis."""
    cred = ims.add_credential()
    with tempfile.TemporaryDirectory(prefix="imstoken-fleet-") as root:
        configs = []
        for host in range(3):
            cache: dict[str, Any] = (
                {"cache": redis_url} if redis_url
                else {"cache": "file", "cache_path": f"{root}/host-{host}"}
            )
            if not redis_url:
                import os

                os.makedirs(f"{root}/host-{host}", exist_ok=True)
            configs += [cred.config("oauth", **cache)] * per_host
        return run_fleet(
            ims, configs, threads=threads, tasks=tasks, duration=duration, hosts=3
        )
