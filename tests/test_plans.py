"""The I/O-free plans and their driver: outcomes and failures reach the plan, and the shared
refresh lock is released whatever ends a fetch (an error, an interrupt, a dropped plan)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Generator
from typing import Any

import httpx
import pytest
import respx

import imstoken
from imstoken._caches._polling import Pacing, poll
from imstoken._plans import drive, drive_sync
from imstoken._token import Token

from .conftest import OAUTH_CONFIG, OAUTH_URL

URL = OAUTH_URL
CONFIG: dict[str, Any] = OAUTH_CONFIG


class RecordingCache:
    """A SharedCache that records lock traffic and holds nothing."""

    def __init__(self) -> None:
        self.held: list[object] = []
        self.released: list[object] = []

    def load(self, key: str) -> tuple[Token, float] | None:
        return None

    def store(self, key: str, token: Token, obtained_at: float) -> None:
        pass

    def delete(self, key: str) -> None:
        pass

    def acquire(self, key: str, ttl: float, wait: float) -> object:
        handle = object()
        self.held.append(handle)
        return handle

    def release(self, handle: object) -> None:
        self.released.append(handle)

    def close(self) -> None:
        pass


def echo_plan() -> Generator[int, Any, list[Any]]:
    seen = []
    for step in (1, 2, 3):
        try:
            seen.append((yield step))
        except ValueError as error:
            seen.append(f"caught {error}")
    return seen


def execute(step: int) -> int:
    if step == 2:
        raise ValueError("two")
    return step * 10


def test_the_sync_driver_sends_results_and_throws_failures() -> None:
    assert drive_sync(echo_plan(), execute) == [10, "caught two", 30]


def test_the_async_driver_does_the_same() -> None:
    async def aexecute(step: int) -> int:
        await asyncio.sleep(0)
        return execute(step)

    assert asyncio.run(drive(echo_plan(), aexecute)) == [10, "caught two", 30]


def test_an_exception_the_plan_does_not_catch_comes_out_unchanged() -> None:
    def plan() -> Generator[int, Any, None]:
        yield 1

    def interrupt(step: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive_sync(plan(), interrupt)


def provider_with(cache: RecordingCache, **options: Any) -> imstoken.TokenProvider:
    return imstoken.from_config(CONFIG, shared_cache=cache, sleep=lambda s: None, **options)


def test_a_failed_fetch_releases_the_shared_lock(mock: respx.MockRouter) -> None:
    mock.post(URL).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    cache = RecordingCache()
    with pytest.raises(imstoken.TokenRequestRefused):
        provider_with(cache).get_token()
    assert cache.held and cache.released == cache.held


def test_an_interrupt_during_the_fetch_releases_the_shared_lock(mock: respx.MockRouter) -> None:
    mock.post(URL).mock(return_value=httpx.Response(503))

    def interrupted(seconds: float) -> None:  # Ctrl-C during the pause before a retry
        raise KeyboardInterrupt

    cache = RecordingCache()
    provider = imstoken.from_config(CONFIG, shared_cache=cache, sleep=interrupted)
    with pytest.raises(KeyboardInterrupt):
        provider.get_token()
    assert cache.held and cache.released == cache.held


def test_a_plan_dropped_mid_fetch_releases_the_shared_lock(mock: respx.MockRouter) -> None:
    cache = RecordingCache()
    provider = provider_with(cache)
    fetcher = provider._fetcher  # the plan itself, not reachable through the public API
    plan = fetcher._through_shared(cache, False, time.time())
    assert next(plan).what == "load"
    assert plan.send(None).what == "acquire"
    assert plan.send(cache.acquire("k", 1, 1)).what == "load"
    assert plan.send(None) is None  # "fetch from the endpoint now"
    del plan
    gc.collect()
    assert cache.released == cache.held


@pytest.mark.parametrize("jitter", [1.0, 0.0])
def test_a_lock_wait_ends_with_a_frozen_clock_and_an_instant_sleep(jitter: float) -> None:
    attempts = 0

    def never() -> None:
        nonlocal attempts
        attempts += 1

    pacing = Pacing(0.01, 0.1, monotonic=lambda: 100.0, sleep=lambda seconds: None)
    assert poll(never, 5.0, pacing, jitter=lambda: jitter) is None
    assert attempts < 2000


@pytest.fixture
def mock() -> Any:
    with respx.mock(assert_all_called=False) as router:
        yield router
