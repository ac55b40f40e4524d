"""The thin I/O layer: send a TokenRequest with httpx, sync or async, and return raw values."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from ._exceptions import TokenRequestError
from ._wire import MAX_BODY_BYTES, TokenRequest

USER_AGENT = "imstoken/0.1"


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What a backend needs of a response: status, headers and the (bounded) body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _network_error(exc: Exception, url: str) -> TokenRequestError:
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        message = f"token endpoint timed out ({kind})"
    else:
        message = f"token endpoint could not be reached ({kind})"
    # The URL never carries secrets (check_url refuses credentials in it).
    return TokenRequestError(f"{message}: {url}", retryable=True, error="network_error")


def _headers(response: httpx.Response) -> dict[str, str]:
    return {key.lower(): value for key, value in response.headers.items()}


def _too_large(url: str) -> TokenRequestError:
    return TokenRequestError(
        f"token endpoint sent more than {MAX_BODY_BYTES} bytes: {url}", retryable=False
    )


def new_sync_client(timeout: float) -> httpx.Client:
    """An httpx client for token requests: no redirects, explicit timeouts, no env proxies off."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def new_async_client(timeout: float) -> httpx.AsyncClient:
    """The asyncio twin of :func:`new_sync_client`."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def send_sync(client: httpx.Client, request: TokenRequest, budget: float) -> RawResponse:
    """Send one attempt; never take longer than ``budget`` seconds, even for a slow trickle."""
    started = time.monotonic()
    timeout = httpx.Timeout(max(budget, 0.001))
    try:
        with client.stream(
            request.method,
            request.url,
            data=dict(request.form),
            headers=dict(request.headers),
            timeout=timeout,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _too_large(request.url)
                chunks.append(chunk)
                if time.monotonic() - started > budget:
                    raise httpx.ReadTimeout("response body took longer than the budget")
            return RawResponse(response.status_code, _headers(response), b"".join(chunks))
    except TokenRequestError:
        raise
    except (httpx.HTTPError, OSError) as exc:
        raise _network_error(exc, request.url) from None


async def send_async(
    client: httpx.AsyncClient, request: TokenRequest, budget: float
) -> RawResponse:
    """Send one attempt from asyncio, bounded by ``budget`` seconds in all."""
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
                        raise _too_large(request.url)
                    chunks.append(chunk)
                return RawResponse(response.status_code, _headers(response), b"".join(chunks))
    except TokenRequestError:
        raise
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        raise _network_error(exc, request.url) from None
