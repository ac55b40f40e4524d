"""Many credentials in one process (issue 13, part 1): requests, memory, build time.

The token endpoint is in-process (an ``httpx.MockTransport``): 100,000 credentials are about the
cache, not about loopback sockets. "Old behaviour" is the same registry held to 4,096 slots, as
the count-bounded LRU of before held it, and the factory without the settings memo.
"""

from __future__ import annotations

import gc
import itertools
import random
import sys
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx

import imstoken
from imstoken import _factory, _memo, _slots
from imstoken._config import build_settings, resolve_env_references
from imstoken.testing import clear_memory_cache

TOKEN_CHARS = 1200  # about an Adobe access token


@dataclass
class TenantsResult:
    """What ``measure`` found."""

    rounds: list[tuple[int, int, int]]  # (credentials, round-1 requests, round-2 requests)
    old_rounds: tuple[int, int, int]
    bytes_per_credential: float
    token_bytes: float
    memo_entry_bytes: float
    build_us: float
    old_build_us: float


class Endpoint:
    """Answers every token request at once; counts them."""

    def __init__(self) -> None:
        self.requests = 0
        self.numbers = itertools.count()
        self.client = httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        client_id = parse_qs(request.content.decode())["client_id"][0]
        body = f"{client_id}.{next(self.numbers)}."
        token = body + "x" * (TOKEN_CHARS - len(body))
        return httpx.Response(
            200, json={"access_token": token, "token_type": "bearer", "expires_in": 86400}
        )


def config(index: int) -> dict[str, Any]:
    """One tenant's configuration."""
    return {
        "credential": "oauth",
        "client_id": f"tenant-{index:06d}-0123456789abcdef",
        "client_secret": f"p8e-tenant-secret-{index:06d}-abcdefghij",
        "org_id": f"{index:06d}0123456789ABCDEF@AdobeOrg",
        "scopes": ["openid", "AdobeID", "read_organizations"],
        "ims_host": "https://ims.example.test",
    }


def one_round(endpoint: Endpoint, count: int, offset: int = 0) -> int:
    """A provider per call for ``count`` credentials, each dropped at once; the requests sent."""
    before = endpoint.requests
    for index in range(offset, offset + count):
        imstoken.from_config(config(index), http_client=endpoint.client).get_token()
    return endpoint.requests - before


def _two_rounds(endpoint: Endpoint, count: int) -> tuple[int, int, int]:
    clear_memory_cache()
    first = one_round(endpoint, count)
    second = one_round(endpoint, count)
    return count, first, second


def memory_per_credential(endpoint: Endpoint, count: int) -> tuple[float, float, float]:
    """Bytes retained per cached credential, its token string's share, and per memo entry
    (tracemalloc; the providers are dropped, as with a provider per call)."""
    clear_memory_cache()
    _memo.memo.clear()
    configs = [config(1_000_000 + index) for index in range(count)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for item in configs:
        imstoken.from_config(item, http_client=endpoint.client).get_token()
    gc.collect()
    with_memo = tracemalloc.get_traced_memory()[0]
    remembered = len(_memo.memo)
    _memo.memo.clear()  # the memo is bounded (MEMO_SIZE); what stays per credential is the slot
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    token = sys.getsizeof("x" * TOKEN_CHARS)
    memo_entry = (with_memo - after) / max(remembered, 1)
    return (after - before) / count, float(token), memo_entry


def _per_call_us(function: Any, calls: int, rounds: int) -> float:
    # CPU time of this thread: on a shared, busy machine wall time also counts the waits for
    # a core, which are not what a build costs.
    samples = []
    for _ in range(rounds):
        began = time.thread_time()
        for _ in range(calls):
            function()
        samples.append((time.thread_time() - began) / calls * 1e6)
    samples.sort()
    return samples[len(samples) // 2]


def build_times(endpoint: Endpoint, rounds: int) -> tuple[float, float]:
    """(µs to build a provider for a known credential, the same without the memo)."""
    known = config(7)
    imstoken.from_config(known, http_client=endpoint.client).get_token()

    def new() -> None:
        imstoken.from_config(known, http_client=endpoint.client)

    def old() -> None:  # what from_config did before: validate, hash, seed an rng per provider
        settings = build_settings(resolve_env_references(known))
        _factory.provider_from_settings(
            settings, http_client=endpoint.client, rng=random.Random()
        )

    return _per_call_us(new, 500, rounds), _per_call_us(old, 500, rounds)


def measure(counts: tuple[int, ...], memory_count: int, rounds: int) -> TenantsResult:
    """Every figure of the tenants section."""
    endpoint = Endpoint()
    try:
        results = [_two_rounds(endpoint, count) for count in counts]
        per_slot = _slots.SLOT_BYTES + _slots.ENTRY_BYTES + 2 * TOKEN_CHARS
        _slots.configure(budget=4096 * per_slot)  # the old registry: 4,096 valid slots at most
        logger_state = _silence()
        try:
            old = _two_rounds(endpoint, counts[0])
        finally:
            _slots.configure(budget=None)
            _silence(logger_state)
        per_credential, token, memo_entry = memory_per_credential(endpoint, memory_count)
        build, old_build = build_times(endpoint, rounds)
    finally:
        endpoint.client.close()
        clear_memory_cache()
    return TenantsResult(results, old, per_credential, token, memo_entry, build, old_build)


def _silence(state: bool | None = None) -> bool:
    import logging

    logger = logging.getLogger("imstoken")
    if state is None:
        was = logger.disabled
        logger.disabled = True  # the emulated old registry warns about its tiny budget
        return was
    logger.disabled = state
    return state
