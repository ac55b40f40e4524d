"""The thin I/O layer: send a TokenRequest with httpx, sync or async, and return raw values."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from .._backends import MAX_BODY_BYTES, RETRYABLE_STATUS, TokenRequest
from .._errors import (
    InvalidTokenResponse,
    TokenEndpointUnreachable,
    TokenRequestError,
    TokenRequestRefused,
    TokenRequestTimedOut,
)
from ._watchdog import Watchdog


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What a backend needs of a response: status, headers and the (bounded) body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _network_error(exc: Exception, url: str) -> TokenRequestError:
    kind = type(exc).__name__
    # The URL never carries secrets (check_url refuses credentials in it).
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return TokenRequestTimedOut(f"token endpoint timed out ({kind}): {url}", retryable=True)
    return TokenEndpointUnreachable(
        f"token endpoint could not be reached ({kind}): {url}", retryable=True
    )


def _headers(response: httpx.Response) -> dict[str, str]:
    return {key.lower(): value for key, value in response.headers.items()}


def _out_of_time(url: str, budget: float) -> TokenRequestError:
    return TokenRequestTimedOut(
        f"token endpoint timed out (no complete answer within {budget:.2f}s): {url}",
        retryable=True,
    )




def _too_large(url: str, response: httpx.Response) -> TokenRequestError:
    debug_id = response.headers.get("x-debug-id")
    kind = InvalidTokenResponse if response.is_success else TokenRequestRefused
    return kind(
        f"token endpoint sent more than {MAX_BODY_BYTES} bytes: {url}",
        status_code=response.status_code,
        debug_id="".join(ch if ch.isprintable() else "?" for ch in debug_id[:120])
        if debug_id
        else None,
        retryable=response.status_code in RETRYABLE_STATUS,
    )


def send_sync(client: httpx.Client, request: TokenRequest, budget: float) -> RawResponse:
    """Send one attempt; never take longer than ``budget`` seconds, even for a slow trickle."""
    started = time.monotonic()
    timeout = httpx.Timeout(max(budget, 0.001))
    watchdog = Watchdog(max(budget, 0.001))
    try:
        with (
            watchdog,
            client.stream(
                request.method,
                request.url,
                data=dict(request.form),
                headers=dict(request.headers),
                timeout=timeout,
                extensions={"trace": watchdog.trace},
            ) as response,
        ):
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _too_large(request.url, response)
                chunks.append(chunk)
                if time.monotonic() - started > budget:
                    raise httpx.ReadTimeout("response body took longer than the budget")
            return RawResponse(response.status_code, _headers(response), b"".join(chunks))
    except TokenRequestError:
        raise
    except (httpx.HTTPError, OSError) as exc:
        if watchdog.fired:
            raise _out_of_time(request.url, budget) from None
        raise _network_error(exc, request.url) from None


async def send_async(
    client: httpx.AsyncClient, request: TokenRequest, budget: float
) -> RawResponse:
    """Send one attempt from asyncio, bounded by ``budget`` seconds in all."""
    import asyncio  # lazily: sync-only apps never pay for importing asyncio

    timeout = httpx.Timeout(max(budget, 0.001))
    try:
        async with asyncio.timeout(max(budget, 0.001)):
            async with client.stream(
                request.method,
                request.url,
                data=dict(request.form),
                headers=dict(request.headers),
                timeout=timeout,
            ) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise _too_large(request.url, response)
                    chunks.append(chunk)
                return RawResponse(response.status_code, _headers(response), b"".join(chunks))
    except TokenRequestError:
        raise
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        raise _network_error(exc, request.url) from None
