"""Spread refreshes: providers started together do not all refresh in the same second.

Each entry draws the start of its background refresh from the first ``refresh_spread`` of the
stale window, with the provider's ``rng`` (seeded here); time is an injected clock.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import random
from collections.abc import Callable
from typing import Any

import httpx

import imstoken
from imstoken import Token
from imstoken._policy import RefreshPolicy, process_rng

LIFETIME = 86400.0
WINDOW = 300.0  # the default refresh window of a day-long token
MIN_VALIDITY = 60.0
START = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_without_an_rng_the_refresh_starts_at_the_window_start() -> None:
    token = Token("t", "bearer", 1000.0 + LIFETIME, "oauth")
    entry = RefreshPolicy().entry(token, 1000.0, {})
    assert entry.stale_at == 1000.0 + LIFETIME - MIN_VALIDITY - WINDOW


def test_with_an_rng_the_start_is_drawn_from_the_first_part_of_the_window() -> None:
    token = Token("t", "bearer", 1000.0 + LIFETIME, "oauth")
    policy = RefreshPolicy()
    rng = random.Random(3)
    window_start = 1000.0 + LIFETIME - MIN_VALIDITY - WINDOW
    starts = [policy.entry(token, 1000.0, {}, 0.0, rng).stale_at for _ in range(2000)]
    assert min(starts) >= window_start
    assert max(starts) <= window_start + policy.refresh_spread * WINDOW
    assert max(starts) - min(starts) >= 0.95 * policy.refresh_spread * WINDOW
    entry = policy.entry(token, 1000.0, {}, 5.0, random.Random(3))
    assert entry.mono_stale_at == entry.stale_at + 5.0  # the monotonic instant moves with it


def test_a_spread_of_zero_keeps_every_start_at_the_window_start() -> None:
    token = Token("t", "bearer", 1000.0 + LIFETIME, "oauth")
    policy = RefreshPolicy(refresh_spread=0.0)
    rng = random.Random(3)
    assert {policy.entry(token, 1000.0, {}, 0.0, rng).stale_at for _ in range(10)} == {
        1000.0 + LIFETIME - MIN_VALIDITY - WINDOW
    }


def test_the_process_rng_is_one_object() -> None:
    assert process_rng() is process_rng()


def _draw(queue: multiprocessing.Queue[float]) -> None:
    queue.put(process_rng().random())


def test_forked_children_draw_different_refresh_starts() -> None:
    """Processes forked from one parent (a pre-fork server) must not agree on their spread."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[float] = context.Queue()
    children = [context.Process(target=_draw, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    draws = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(30)
    assert draws[0] != draws[1]


def _config(index: int) -> dict[str, Any]:
    return {
        "credential": "oauth",
        "client_id": f"spread-client-{index:04d}",
        "client_secret": f"spread-secret-{index:04d}",
        "org_id": f"SPREAD{index:04d}@AdobeOrg",
        "scopes": ["openid"],
        "ims_host": "https://ims.example.test",
    }


def test_refresh_starts_of_1000_credentials_cover_the_window(
    record_property: Callable[[str, object], None],
) -> None:
    clock = FakeClock(START)
    arrivals: collections.Counter[int] = collections.Counter()  # second of the window -> starts
    window_start = START + LIFETIME - MIN_VALIDITY - WINDOW
    issued = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal issued
        issued += 1
        if clock.now >= window_start:
            arrivals[int(clock.now - window_start)] += 1
        return httpx.Response(
            200,
            json={"access_token": f"tok-{issued}", "token_type": "bearer",
                  "expires_in": int(LIFETIME)},
        )

    async def main() -> int:
        rng = random.Random(20240601)
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            providers = [
                imstoken.from_config(
                    _config(index), clock=clock, monotonic=clock, rng=rng,
                    async_http_client=client,
                )
                for index in range(1000)
            ]
            first = {id(p): (await p.aget_token()).access_token for p in providers}
            waiting = list(providers)  # started together: one token each, same instant
            for second in range(int(WINDOW)):
                clock.now = window_start + second
                for provider in waiting:
                    await provider.aget_token()
                # Let every background refresh started in this second reach the endpoint.
                await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))
                waiting = [
                    p for p in waiting if (await p.aget_token()).access_token == first[id(p)]
                ]
            for provider in providers:
                await provider.aclose()
            return len(waiting)

    never = asyncio.run(main())
    started = sum(arrivals.values())
    assert never == 0 and started == 1000  # every credential refreshed once, in the window
    covered = len(arrivals) / WINDOW
    record_property("refresh_start_coverage", covered)
    record_property("most_refresh_starts_in_one_second", max(arrivals.values()))
    assert covered >= 0.8, f"refresh starts cover {covered:.0%} of the window"
    assert max(arrivals.values()) <= 15  # no second carries a crowd (all 1000 without spread)


def test_without_spread_the_same_1000_start_in_one_second() -> None:
    """What the spread fixes: with ``refresh_spread=0`` every start falls in one second."""
    policy = RefreshPolicy(refresh_spread=0.0)
    rng = random.Random(1)
    token = Token("t", "bearer", START + LIFETIME, "oauth")
    starts = {int(policy.entry(token, START, {}, 0.0, rng).stale_at) for _ in range(1000)}
    assert len(starts) == 1
