"""The deadline covers everything: shared-cache calls and lock waits spend the fetch's budget.

A store that answers every call 0.6 s late (under its socket timeout) must not hold get_token()
past ``deadline``: once the budget runs short, the shared cache is skipped.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

import imstoken

from .conftest import OAUTH_CONFIG, OAUTH_URL

LATE = 0.6
DEADLINE = 2.0


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LateStore:
    """A record store whose every call takes 0.6 s on the injected clock (a slow Redis)."""

    def __init__(self, clock: FakeMonotonic) -> None:
        self.clock = clock
        self.records: dict[str, bytes] = {}
        self.calls: list[str] = []

    def _late(self, what: str) -> None:
        self.calls.append(what)
        self.clock.now += LATE

    def read(self, key: str) -> bytes | None:
        self._late("read")
        return self.records.get(key)

    def write(self, key: str, record: bytes, ttl: float) -> None:
        self._late("write")
        self.records[key] = record

    def delete(self, key: str) -> None:
        self._late("delete")
        self.records.pop(key, None)

    def acquire(self, key: str, ttl: float, wait: float) -> object:
        self._late("acquire")
        return object()

    def release(self, handle: object) -> None:
        self._late("release")

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


def provider_over(store: LateStore, clock: FakeMonotonic) -> imstoken.TokenProvider:
    config: dict[str, Any] = {**OAUTH_CONFIG, "deadline": DEADLINE, "timeout": 1.0}
    return imstoken.from_config(config, shared_cache=store, monotonic=clock, sleep=lambda s: None)  # type: ignore[arg-type]


def test_a_late_store_never_holds_a_sync_fetch_past_the_deadline(
    endpoint: respx.MockRouter,
) -> None:
    clock = FakeMonotonic()
    store = LateStore(clock)
    began = clock.now
    assert provider_over(store, clock).get_token().access_token == "tok"
    assert clock.now - began <= DEADLINE
    assert endpoint.calls.call_count == 1
    assert store.calls[0] == "read"  # the cache was used while the budget allowed


def test_a_late_store_never_holds_an_async_fetch_past_the_deadline(
    endpoint: respx.MockRouter,
) -> None:
    clock = FakeMonotonic()
    store = LateStore(clock)
    began = clock.now
    token = asyncio.run(provider_over(store, clock).aget_token())
    assert token.access_token == "tok"
    assert clock.now - began <= DEADLINE


def test_the_token_is_still_shared_when_the_budget_allows(endpoint: respx.MockRouter) -> None:
    clock = FakeMonotonic()
    store = LateStore(clock)
    provider_over(store, clock).get_token()
    assert store.calls.count("write") == 1  # stored for the others


class DelayingProxy:
    """A loopback TCP proxy that holds every answer from Redis for ``delay`` seconds."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for args in ((client, server, 0.0), (server, client, self.delay)):
                threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, delay: float) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if delay:
                    time.sleep(delay)  # the fault under test: a Redis answering late
                target.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.mark.redis
def test_a_redis_answering_late_keeps_get_token_within_the_deadline(
    ims: imstoken.testing.LocalIMS, cred: imstoken.testing.Credential, redis_url: str
) -> None:
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = DelayingProxy((host, int(port)), LATE)
    try:
        config = cred.config(
            "oauth", cache=f"redis://127.0.0.1:{proxy.port}/0", deadline=DEADLINE, timeout=1.0
        )
        with imstoken.from_config(config) as provider:
            began = time.monotonic()
            provider.get_token()
            elapsed = time.monotonic() - began
    finally:
        proxy.close()
    assert ims.count() == 1
    # Real time here (a real socket): a generous margin over the deadline; today's main took
    # about three times the deadline.
    assert elapsed < DEADLINE + 0.5
