"""Every shared-cache call is bounded by the deadline, the first one on a new connection included.

A store whose call hangs (a Redis connect handshake answered just under each socket timeout, a
silent Redis) must not hold the caller: the call is abandoned when the budget says so, the
caller gets a token from the endpoint, and an abandoned lock is released when it is taken.
These tests block the store's calls on events (no sleeps); the clock is frozen so the budget's
decisions do not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

import imstoken

from .conftest import OAUTH_CONFIG, OAUTH_URL
from .test_cache_deadline import DelayingProxy

# Waits on events are bounded so that a broken build fails instead of hanging; no test asserts
# how long anything took.
SAFETY = 10.0


class FrozenMonotonic:
    def __call__(self) -> float:
        return 1000.0


class BlockingStore:
    """A record store whose ``blocked`` calls wait for ``go`` (a hung Redis), the others answer."""

    def __init__(self, *blocked: str) -> None:
        self.blocked = set(blocked)
        self.go = threading.Event()
        self.finished = {name: threading.Event() for name in ("read", "acquire", "write")}
        self.released = threading.Event()
        self.handles: list[object] = []
        self.released_handles: list[object] = []
        self.calls: list[str] = []
        self.records: dict[str, bytes] = {}

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if what in self.blocked:
            self.go.wait(SAFETY)

    def read(self, key: str) -> bytes | None:
        self._call("read")
        self.finished["read"].set()
        return self.records.get(key)

    def write(self, key: str, record: bytes, ttl: float) -> None:
        self._call("write")
        self.records[key] = record
        self.finished["write"].set()

    def delete(self, key: str) -> None:
        self._call("delete")

    def acquire(self, key: str, ttl: float, wait: float) -> object:
        self._call("acquire")
        handle = object()
        self.handles.append(handle)
        self.finished["acquire"].set()
        return handle

    def release(self, handle: object) -> None:
        self.calls.append("release")
        self.released_handles.append(handle)
        self.released.set()

    def close(self) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.post(OAUTH_URL).mock(
            return_value=httpx.Response(
                200, json={"access_token": "tok", "token_type": "bearer", "expires_in": 3600}
            )
        )
        yield router


def provider_over(store: BlockingStore, **config: Any) -> imstoken.TokenProvider:
    # deadline 0.4, reserve min(timeout, deadline / 2) = 0.2: a cache call is waited for 0.2 s.
    settings: dict[str, Any] = {**OAUTH_CONFIG, "deadline": 0.4, "timeout": 0.2, **config}
    return imstoken.from_config(
        settings,
        shared_cache=store,  # type: ignore[arg-type]
        monotonic=FrozenMonotonic(),
        sleep=lambda s: None,
    )


def test_a_hung_load_is_abandoned_and_the_sync_caller_gets_the_endpoints_token(
    endpoint: respx.MockRouter,
) -> None:
    store = BlockingStore("read")
    try:
        assert provider_over(store).get_token().access_token == "tok"
        # Returned while the first cache call was still hanging: it was not waited for.
        assert not store.finished["read"].is_set()
        assert endpoint.calls.call_count == 1
    finally:
        store.go.set()
    assert store.finished["read"].wait(SAFETY)


def test_a_hung_load_is_abandoned_and_the_async_caller_gets_the_endpoints_token(
    endpoint: respx.MockRouter,
) -> None:
    store = BlockingStore("read")
    try:
        token = asyncio.run(provider_over(store).aget_token())
        assert token.access_token == "tok"
        assert not store.finished["read"].is_set()
    finally:
        store.go.set()
    assert store.finished["read"].wait(SAFETY)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_lock_taken_after_its_caller_gave_up_is_released(
    endpoint: respx.MockRouter, mode: str
) -> None:
    store = BlockingStore("acquire")
    provider = provider_over(store)
    try:
        token = provider.get_token() if mode == "sync" else asyncio.run(provider.aget_token())
        assert token.access_token == "tok"
        assert not store.finished["acquire"].is_set()
        assert not store.released.is_set()
    finally:
        store.go.set()
    # The abandoned acquire succeeds now: its lock must not wait out its expiry.
    assert store.released.wait(SAFETY)
    assert store.released_handles == store.handles
    assert len(store.handles) == 1


def test_a_cancelled_async_caller_releases_a_lock_taken_after_it_left(
    endpoint: respx.MockRouter,
) -> None:
    store = BlockingStore("acquire")
    provider = provider_over(store, deadline=30.0, timeout=10.0)

    async def main() -> None:
        task = asyncio.ensure_future(provider.aget_token())
        while "acquire" not in store.calls:
            await asyncio.sleep(0)  # let the fetch reach the lock
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    finally:
        store.go.set()
    assert store.released.wait(SAFETY)
    assert store.released_handles == store.handles


def test_many_callers_on_a_hung_store_all_get_tokens(endpoint: respx.MockRouter) -> None:
    store = BlockingStore("read")
    # More concurrent fetches than the cache pool has threads: queued calls are abandoned too.
    providers = [provider_over(store, client_id=f"cid{n}") for n in range(40)]
    tokens: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def fetch(provider: imstoken.TokenProvider) -> None:
        try:
            value = provider.get_token().access_token
        except BaseException as error:
            with lock:
                errors.append(error)
            return
        with lock:
            tokens.append(value)

    threads = [threading.Thread(target=fetch, args=(p,)) for p in providers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SAFETY * 3)
        assert errors == []
        assert tokens == ["tok"] * 40
        assert not store.finished["read"].is_set()
    finally:
        store.go.set()


# ---------------------------------------------------------------------- a real, slow Redis

SLOW = 0.95  # each reply under redis-py's 1 s socket timeout
DEADLINE = 2.0
MARGIN = 0.6  # a correctness bound, not a benchmark: today's main took 2.9 s here


@pytest.fixture
def slow_redis(redis_url: str) -> Iterator[str]:
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = DelayingProxy((host, int(port)), SLOW)
    try:
        yield f"redis://127.0.0.1:{proxy.port}/0"
    finally:
        proxy.close()


@pytest.mark.redis
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_first_call_on_a_new_redis_connection_is_bounded_too(
    ims: imstoken.testing.LocalIMS,
    cred: imstoken.testing.Credential,
    slow_redis: str,
    mode: str,
) -> None:
    config = cred.config("oauth", cache=slow_redis, deadline=DEADLINE)
    with imstoken.from_config(config) as provider:
        began = time.monotonic()
        if mode == "sync":
            provider.get_token()
        else:
            asyncio.run(provider.aget_token())
        elapsed = time.monotonic() - began
    assert ims.count() == 1
    assert elapsed < DEADLINE + MARGIN
