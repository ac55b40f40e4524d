"""The thin I/O layer: send a TokenRequest with httpx, sync or async, and return raw values."""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .._backends import MAX_BODY_BYTES, TokenRequest
from .._errors import (
    InvalidTokenResponse,
    TokenEndpointUnreachable,
    TokenRequestError,
    TokenRequestTimedOut,
)

USER_AGENT = "imstoken/0.1"


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


# Each attempt gets a connection of its own: a retry after a failure may reach another backend
# behind the load balancer, and the sync watchdog below always sees the socket it must cut.
_LIMITS = httpx.Limits(max_keepalive_connections=0)
_NEW_CONNECTION_EVENTS = frozenset(
    {
        "connection.connect_tcp.complete",
        "connection.connect_unix_socket.complete",
        "connection.start_tls.complete",
    }
)


class _Alarms:
    """One daemon thread that runs due callbacks: a watchdog per attempt without a thread per
    attempt (starting a thread costs up to milliseconds on a busy machine, on every fetch)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[list[Any]] = []
        self._order = itertools.count()
        self._pid = -1

    def _ensure_thread(self) -> None:
        # Called with the condition held. A forked child has no thread: start its own.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._heap.clear()
            threading.Thread(target=self._run, name="imstoken-watchdog", daemon=True).start()

    def start(self) -> None:
        """Start the thread ahead of the first request."""
        with self._cond:
            self._ensure_thread()

    def schedule(self, delay: float, callback: Callable[[], None]) -> list[Any]:
        """Run ``callback`` in ``delay`` seconds unless cancelled; returns the handle."""
        entry = [time.monotonic() + delay, next(self._order), callback]
        with self._cond:
            self._ensure_thread()
            heapq.heappush(self._heap, entry)
            self._cond.notify()
        return entry

    @staticmethod
    def cancel(entry: list[Any]) -> None:
        """Forget a scheduled callback (it is dropped when its time comes)."""
        entry[2] = None

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2] is None:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                callback = heapq.heappop(self._heap)[2]
                if callback is None:
                    continue
                self._cond.release()
                try:
                    callback()
                except Exception:  # noqa: BLE001, S110 - a watchdog must never die
                    pass
                finally:
                    self._cond.acquire()


_alarms = _Alarms()


class _Watchdog:
    """Cuts the connection of one sync attempt when its budget runs out.

    httpx's timeouts apply to each socket operation: a server that trickles its status line and
    headers a byte at a time never trips them, and a blocking read cannot be cancelled. Shutting
    the socket down from a timer thread ends that read at once. The socket comes from httpcore's
    ``trace`` extension when the connection is made (a reused keep-alive connection of a client
    the caller passed in is not seen: it keeps the per-read timeouts only).
    """

    def __init__(self, budget: float) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.fired = False
        self._budget = budget
        self._alarm: list[Any] | None = None

    def __enter__(self) -> _Watchdog:
        self._alarm = _alarms.schedule(self._budget, self._fire)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._alarm is not None:
            _alarms.cancel(self._alarm)

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event not in _NEW_CONNECTION_EVENTS:
            return
        try:
            stream = info.get("return_value")
            found = stream.get_extra_info("socket") if stream is not None else None
        except Exception:  # noqa: BLE001 - a transport without sockets: nothing to watch
            return
        if not isinstance(found, socket.socket):
            return
        with self._lock:
            self._socket = found
            fired = self.fired
        if fired:
            self._shutdown(found)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            found = self._socket
        self._shutdown(found)

    @staticmethod
    def _shutdown(found: socket.socket | None) -> None:
        if found is not None:
            try:
                found.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the attempt ended by itself


def _too_large(url: str, status: int) -> TokenRequestError:
    return InvalidTokenResponse(
        f"token endpoint sent more than {MAX_BODY_BYTES} bytes: {url}",
        status_code=status,
        retryable=False,
    )


_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: loading the CA bundle takes 20-40 ms.

    Built like httpx's default (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``).
    """
    global _ssl_context
    if _ssl_context is None:
        with _ssl_lock:
            if _ssl_context is None:
                _ssl_context = httpx.create_ssl_context()
    return _ssl_context


def prepare_ssl_context() -> None:
    """Start loading the shared TLS context in the background (and the watchdog thread), once
    per process.

    A provider is usually built at start-up, well before its first token request: loading the
    CA bundle then overlaps with the app's own start instead of delaying the first token.
    """
    if _ssl_context is None:
        threading.Thread(target=shared_ssl_context, name="imstoken-tls", daemon=True).start()
    _alarms.start()


def new_sync_client(timeout: float) -> httpx.Client:
    """An httpx client for token requests: no redirects, explicit timeouts."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        limits=_LIMITS,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        verify=shared_ssl_context(),
    )


def new_async_client(timeout: float) -> httpx.AsyncClient:
    """The asyncio twin of :func:`new_sync_client` (call it off the event loop the first time:
    the shared TLS context may still have to load the CA bundle)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=_LIMITS,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        verify=shared_ssl_context(),
    )


def send_sync(client: httpx.Client, request: TokenRequest, budget: float) -> RawResponse:
    """Send one attempt; never take longer than ``budget`` seconds, even for a slow trickle."""
    started = time.monotonic()
    timeout = httpx.Timeout(max(budget, 0.001))
    watchdog = _Watchdog(max(budget, 0.001))
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
                    raise _too_large(request.url, response.status_code)
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
                        raise _too_large(request.url, response.status_code)
                    chunks.append(chunk)
                return RawResponse(response.status_code, _headers(response), b"".join(chunks))
    except TokenRequestError:
        raise
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        raise _network_error(exc, request.url) from None
