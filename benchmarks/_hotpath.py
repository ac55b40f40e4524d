"""The hot path: what every API call pays for a cached token, next to the physical floor.

The floor is a plain attribute read plus a clock compare in a Python method, called the same
way (a bound method in the same timing loop). The httpx auth flow is driven the way httpx drives
it (fresh request headers, ``read()`` when the auth asks for the body, the generator's two
steps) and compared with a no-op auth driven identically: the difference is the added cost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass

import httpx

import imstoken

from ._timing import async_rounds, sync_rounds

API_URL = "https://api.example.com/v1/things"


class CachedToken:
    """The floor: a token and its expiry on a slotted object."""

    __slots__ = ("expires_at", "token")

    def __init__(self, token: object, expires_at: float) -> None:
        self.token = token
        self.expires_at = expires_at

    def get(self) -> object:
        if time.time() < self.expires_at:
            return self.token
        raise LookupError("expired")

    async def aget(self) -> object:
        if time.time() < self.expires_at:
            return self.token
        raise LookupError("expired")


class NoAuth(httpx.Auth):
    """The baseline flow: hands the request on untouched."""

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        yield request


def _template() -> tuple[httpx.Request, httpx.Headers, httpx.Response]:
    with httpx.Client() as client:
        request = client.build_request("GET", API_URL)
    return request, request.headers.copy(), httpx.Response(200, request=request)


def sync_flow(auth: httpx.Auth) -> Callable[[], None]:
    """One request through ``auth``'s sync flow, as ``httpx.Client`` drives it."""
    request, template, response = _template()
    flow = auth.sync_auth_flow
    needs_body = auth.requires_request_body

    def case() -> None:
        request.headers = template.copy()
        if needs_body:
            request.read()
        steps = flow(request)
        next(steps)
        try:
            steps.send(response)
        except StopIteration:
            pass

    return case


def async_flow(auth: httpx.Auth) -> Callable[[], Awaitable[None]]:
    """One request through ``auth``'s async flow, as ``httpx.AsyncClient`` drives it."""
    request, template, response = _template()
    flow = auth.async_auth_flow
    needs_body = auth.requires_request_body

    async def case() -> None:
        request.headers = template.copy()
        if needs_body:
            await request.aread()
        steps = flow(request)
        await steps.__anext__()
        try:
            await steps.asend(response)
        except StopAsyncIteration:
            pass

    return case


@dataclass
class HotPath:
    """Per-round microseconds of every case, sync and async."""

    sync: dict[str, list[float]]
    asynchronous: dict[str, list[float]]


def measure(
    provider: imstoken.TokenProvider,
    *,
    rounds: int,
    batch: float,
    extra_sync: dict[str, Callable[[], object]] | None = None,
    extra_async: dict[str, Callable[[], Awaitable[object]]] | None = None,
) -> HotPath:
    """Time the floor, imstoken's hot path and any ``extra`` cases in the same rounds."""
    token = provider.get_token()
    floor = CachedToken(token, token.expires_at)
    no_auth = NoAuth()
    sync_cases: dict[str, Callable[[], object]] = {
        "floor": floor.get,
        "get_token": provider.get_token,
        "headers": provider.headers,
        "flow:none": sync_flow(no_auth),
        "flow:imstoken": sync_flow(provider),
        **(extra_sync or {}),
    }
    async_cases: dict[str, Callable[[], Awaitable[object]]] = {
        "floor": floor.aget,
        "aget_token": provider.aget_token,
        "aheaders": provider.aheaders,
        "flow:none": async_flow(no_auth),
        "flow:imstoken": async_flow(provider),
        **(extra_async or {}),
    }
    sync = sync_rounds(sync_cases, rounds=rounds, batch=batch)

    async def run_async() -> dict[str, list[float]]:
        return await async_rounds(async_cases, rounds=rounds, batch=batch)

    asynchronous = asyncio.run(run_async())
    return HotPath(sync, asynchronous)
