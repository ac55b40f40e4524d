"""TokenProvider: owns time and concurrency over a sans-I/O backend.

One place decides fresh / stale / expired, starts at most one refresh per cache key (across
threads, asyncio tasks and event loops of the process, and, with a shared cache, across
processes and hosts), lets everyone else keep using a still-valid token, retries transient
failures with backoff within a deadline, and never hands out an expired token.
"""

from __future__ import annotations

import copy
import logging
import random
import sys
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import TYPE_CHECKING, Self

import httpx

from . import _slots
from ._backends import Backend
from ._caches._protocol import SharedCache
from ._errors import ImsTokenError, TokenRequestError
from ._fetch import Fetcher
from ._http._transport import (
    prepare_ssl_context,
)
from ._policy import Entry, RefreshPolicy
from ._retry import Backoff
from ._token import Token

if TYPE_CHECKING:
    import asyncio

    from ._adapters._requests import RequestsAuth

logger = logging.getLogger("imstoken")

TokenCallback = Callable[[Token], object]
ErrorCallback = Callable[[TokenRequestError], object]


def _can_extend_httpx_headers() -> bool:
    """Whether ``httpx.Headers`` keeps (name, lowercased name, value) bytes triples in ``_list``.

    Its public setters re-encode and rescan the list per header (about 1 µs each); appending
    pre-encoded triples for names not yet present is the same result. Checked once at import,
    so an httpx with another layout gets the public API.
    """
    try:
        probe = httpx.Headers({"A": "1"})
        items = probe._list
        if type(items) is not list or items != [(b"A", b"a", b"1")]:
            return False
        items.append((b"X-Probe", b"x-probe", b"2"))
        return probe.get("x-probe") == "2" and probe.raw == [(b"A", b"1"), (b"X-Probe", b"2")]
    except Exception:  # noqa: BLE001 - any surprise means: use the public API
        return False


_EXTEND_HTTPX_HEADERS = _can_extend_httpx_headers()


def _is_cancelled(error: BaseException) -> bool:
    # asyncio is imported lazily: if it was never imported, nothing could have been cancelled.
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(error, asyncio.CancelledError)


def _clone(error: BaseException) -> BaseException:
    """A copy per waiter, so concurrent raisers do not share one traceback."""
    try:
        return copy.copy(error)
    except Exception:  # noqa: BLE001 - an exotic exception that cannot be copied
        return error


class TokenProvider(Fetcher, httpx.Auth):
    """Hands out valid access tokens for one credential, cached and refreshed ahead of expiry.

    Build one with :func:`imstoken.from_config`, :func:`imstoken.from_env` or
    :func:`imstoken.from_file`. It is also an ``httpx.Auth`` (sync and async), and
    :meth:`requests_auth` adapts it to ``requests``.

    Options the factories pass through: ``clock`` (Unix seconds), ``monotonic``, ``sleep`` and
    ``async_sleep`` (inject them in tests), ``on_token`` (called with each new Token) and
    ``on_error`` (called with each failed fetch, after its retries) for metrics,
    ``http_client`` / ``async_http_client`` (your own httpx clients for the token endpoint),
    ``policy`` (:class:`RefreshPolicy`) and ``backoff``.
    """

    requires_request_body = True  # so a request can be sent again after a 401

    def __init__(
        self,
        backend: Backend,
        *,
        cache_key: str,
        api_headers: Mapping[str, str] | None = None,
        shared_cache: SharedCache | None = None,
        policy: RefreshPolicy | None = None,
        backoff: Backoff | None = None,
        timeout: float = 10.0,
        deadline: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        on_token: TokenCallback | None = None,
        on_error: ErrorCallback | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._backend = backend
        self._cache_key = cache_key
        self._api_headers = dict(api_headers or {})
        self._shared = shared_cache
        self._policy = policy or RefreshPolicy()
        self._backoff = backoff or Backoff()
        self._timeout = timeout
        self._deadline = deadline
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep  # None: asyncio.sleep (asyncio is imported lazily)
        self._monotonic = monotonic
        self._on_token = on_token
        self._on_error = on_error
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._slot = _slots.slot_for(cache_key)
        self._own_client = http_client is None
        self._client = http_client
        self._own_aclient = async_http_client is None
        self._aclient = async_http_client
        self._aclient_loop: asyncio.AbstractEventLoop | None = None
        self._client_lock = threading.Lock()
        self._background: set[Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        if http_client is None or async_http_client is None:
            prepare_ssl_context()

    # ------------------------------------------------------------------ public API

    @property
    def cache_key(self) -> str:
        """The key this provider's token is cached under (derived from identity, not secrets)."""
        return self._cache_key

    @property
    def token_url(self) -> str:
        """The token endpoint this provider asks."""
        return self._backend.token_url

    def get_token(self, *, force_refresh: bool = False) -> Token:
        """A valid token, from the cache when possible. ``force_refresh`` bypasses the cache."""
        if not force_refresh:
            entry = self._slot.entry
            if entry is not None:
                now = self._clock()
                if (
                    entry.obtained_at <= now < entry.stale_at
                    and self._monotonic() < entry.mono_stale_at
                ):
                    return entry.token
        return self._entry_sync(force_refresh, None).token

    async def aget_token(self, *, force_refresh: bool = False) -> Token:
        """Like :meth:`get_token`, for asyncio: network I/O never blocks the event loop."""
        if not force_refresh:
            entry = self._slot.entry
            if entry is not None:
                now = self._clock()
                if (
                    entry.obtained_at <= now < entry.stale_at
                    and self._monotonic() < entry.mono_stale_at
                ):
                    return entry.token
        return (await self._entry_async(force_refresh, None)).token

    def headers(self) -> dict[str, str]:
        """Request headers for Adobe APIs: ``Authorization``, ``x-api-key``, ``x-gw-ims-org-id``."""
        entry = self._current_entry()
        return entry.headers.copy()

    async def aheaders(self) -> dict[str, str]:
        """Like :meth:`headers`, for asyncio."""
        entry = await self._acurrent_entry()
        return entry.headers.copy()

    def invalidate(self) -> None:
        """Drop the cached token (memory and shared cache); the next call fetches a new one."""
        slot = self._slot
        with slot.lock:
            slot.entry = None
            slot.next_attempt_at = 0.0
        if self._shared is not None:
            self._shared_call("delete", self._shared.delete, self._cache_key)

    def requests_auth(self) -> RequestsAuth:
        """A ``requests`` auth object over this provider (needs the ``requests`` extra)."""
        from ._adapters._requests import RequestsAuth

        return RequestsAuth(self)

    def close(self) -> None:
        """Close HTTP clients and wait briefly for background refresh threads."""
        self._closed = True
        for pending in list(self._background):
            try:
                pending.result(timeout=self._deadline + self._timeout)
            except Exception:  # noqa: BLE001, S110 - failures were already logged and delivered
                pass
        with self._client_lock:
            if self._client is not None and self._own_client:
                self._client.close()
                self._client = None
        if self._shared is not None:
            self._shared.close()

    async def aclose(self) -> None:
        """Close the async HTTP client, cancel background tasks, then what :meth:`close` closes."""
        import asyncio

        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._aclient is not None and self._own_aclient:
            await self._aclient.aclose()
            self._aclient = None
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"TokenProvider(credential={self.credential!r}, token_url={self.token_url!r}, "
            f"cache_key={self._cache_key!r})"
        )

    # ------------------------------------------------------------------ httpx.Auth

    def _apply(self, request: httpx.Request, entry: Entry) -> None:
        headers = request.headers
        wire = entry.wire_headers
        if wire is not None and _EXTEND_HTTPX_HEADERS and type(headers) is httpx.Headers:
            items = headers._list
            names = entry.wire_names
            for item in items:
                if item[1] in names:
                    break
            else:  # none of them set yet (the usual case): what __setitem__ does, pre-encoded
                items.extend(wire)
                return
        for name, value in entry.headers.items():
            if name == "Authorization" or name not in headers:
                headers[name] = value

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the headers; on a 401 refresh once and send the request once more."""
        entry = self._current_entry()
        self._apply(request, entry)
        response = yield request
        if response.status_code == 401:
            entry = self._entry_sync(False, entry.token)
            self._apply(request, entry)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The asyncio twin of :meth:`sync_auth_flow`."""
        entry = await self._acurrent_entry()
        self._apply(request, entry)
        response = yield request
        if response.status_code == 401:
            entry = await self._entry_async(False, entry.token)
            self._apply(request, entry)
            yield request

    def refresh_rejected(self, rejected: Token) -> Token:
        """After an API answered 401 to ``rejected``: a newer token, one refresh for all."""
        return self._entry_sync(False, rejected).token

    async def arefresh_rejected(self, rejected: Token) -> Token:
        """The asyncio twin of :meth:`refresh_rejected`."""
        return (await self._entry_async(False, rejected)).token

    # ------------------------------------------------------------------ decisions

    def _current_entry(self) -> Entry:
        """The fresh entry from memory, else through the slow path (headers, auth flows).

        get_token() and aget_token() inline the same check: they are the hottest path.
        """
        entry = self._slot.entry
        if (
            entry is not None
            and entry.obtained_at <= self._clock() < entry.stale_at
            and self._monotonic() < entry.mono_stale_at
        ):
            return entry
        return self._entry_sync(False, None)

    async def _acurrent_entry(self) -> Entry:
        """The asyncio twin of :meth:`_current_entry`."""
        entry = self._slot.entry
        if (
            entry is not None
            and entry.obtained_at <= self._clock() < entry.stale_at
            and self._monotonic() < entry.mono_stale_at
        ):
            return entry
        return await self._entry_async(False, None)

    def _decide(
        self, force: bool, rejected: Token | None
    ) -> tuple[Entry | None, Future[Entry] | None, bool, bool]:
        """Under the slot lock: (entry to return, future to wait on, am I leader, start bg)."""
        slot = self._slot
        now = self._clock()
        mono = self._monotonic()
        entry = slot.entry
        if (
            entry is not None
            and not force
            and entry.is_usable(now, mono)
            and (rejected is None or entry.token.access_token != rejected.access_token)
        ):
            if entry.is_fresh(now, mono):
                return entry, None, False, False
            start = slot.inflight is None and now >= slot.next_attempt_at and not self._closed
            if start:
                slot.inflight = self._new_future()
                return entry, slot.inflight, True, True
            return entry, None, False, False
        if (
            rejected is not None
            and entry is not None
            and entry.token.access_token == rejected.access_token
        ):
            slot.entry = None  # never hand the rejected token out again
        future = slot.inflight
        if future is None:
            future = slot.inflight = self._new_future()
            return None, future, True, False
        return None, future, False, False

    @staticmethod
    def _new_future() -> Future[Entry]:
        future: Future[Entry] = Future()
        future.set_running_or_notify_cancel()  # a running future cannot be cancelled by a waiter
        return future

    def _wait_limit(self) -> float:
        # A safety net only: the leader gives up by itself at its deadline, after waiting at most
        # the cross-process lock's wait. Waiters allow for both, and a margin.
        lock_wait = self._shared_lock_times()[1] if self._shared is not None else 0.0
        return lock_wait + self._deadline + self._timeout + 1.0

    # ------------------------------------------------------------------ sync path

    def _entry_sync(self, force: bool, rejected: Token | None) -> Entry:
        slot = self._slot
        with slot.lock:
            entry, future, leader, background = self._decide(force, rejected)
        if background:
            assert future is not None and entry is not None
            self._start_background_thread(future, force)
            return entry
        if entry is not None:
            return entry
        assert future is not None
        if leader:
            self._run_fetch_sync(future, force or rejected is not None, background=False)
        try:
            return future.result(timeout=self._wait_limit())
        except FutureTimeout:
            raise TokenRequestError(
                "timed out waiting for another caller's token request", retryable=True
            ) from None
        except ImsTokenError as error:
            raise _clone(error) from None

    def _start_background_thread(self, future: Future[Entry], force: bool) -> None:
        # A pooled worker: handing work to a live thread costs microseconds, starting one does not.
        try:
            executor = _slots.refresh_executor()
            done = executor.submit(self._run_fetch_sync, future, force, background=True)
        except RuntimeError as error:  # the interpreter is shutting down: no new threads
            self._finish_failure(future, error, True, self._clock())
            return
        self._background.add(done)
        done.add_done_callback(self._background.discard)

    def _run_fetch_sync(self, future: Future[Entry], force: bool, *, background: bool) -> None:
        started = self._clock()
        try:
            entry = self._fetch_sync(force, started)
        except BaseException as error:
            self._finish_failure(future, error, background, started)
            if not isinstance(error, Exception):
                raise
            return
        self._finish_success(future, entry)

    # ------------------------------------------------------------------ async path

    async def _entry_async(self, force: bool, rejected: Token | None) -> Entry:
        import asyncio

        slot = self._slot
        with slot.lock:
            entry, future, leader, background = self._decide(force, rejected)
        if background:
            assert future is not None and entry is not None
            self._spawn(self._run_fetch_async(future, force, background=True))
            return entry
        if entry is not None:
            return entry
        assert future is not None
        if leader:
            # A task of its own: a cancelled caller must not abandon the others' fetch.
            forced = force or rejected is not None
            self._spawn(self._run_fetch_async(future, forced, background=False))
        try:
            async with asyncio.timeout(self._wait_limit()):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            raise TokenRequestError(
                "timed out waiting for another caller's token request", retryable=True
            ) from None
        except ImsTokenError as error:
            raise _clone(error) from None

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        import asyncio

        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_fetch_async(
        self, future: Future[Entry], force: bool, *, background: bool
    ) -> None:
        import asyncio

        started = self._clock()
        try:
            entry = await self._fetch_async(force, started)
        except BaseException as error:
            self._finish_failure(future, error, background, started)
            if isinstance(error, asyncio.CancelledError):
                return
            if not isinstance(error, Exception):
                raise
            return
        self._finish_success(future, entry)

    def _finish_success(self, future: Future[Entry], entry: Entry) -> None:
        slot = self._slot
        with slot.lock:
            slot.entry = entry  # a fetched token is the newest by construction
            if slot.inflight is future:
                slot.inflight = None
            slot.next_attempt_at = 0.0
        future.set_result(entry)
        _slots.refresh_executor()  # warm the pool off the hot path, while a fetch just ran
        if self._on_token is not None:
            try:
                self._on_token(entry.token)
            except Exception:
                logger.exception("imstoken: on_token callback raised")

    def _finish_failure(
        self, future: Future[Entry], error: BaseException, background: bool, started: float
    ) -> None:
        slot = self._slot
        with slot.lock:
            if slot.inflight is future:
                slot.inflight = None
            # Space refresh attempts while a valid token exists; never loop on a failing IMS.
            slot.next_attempt_at = self._clock() + self._policy.retry_delay(slot.entry)
        if isinstance(error, ImsTokenError):
            delivered: BaseException = error
        elif _is_cancelled(error):
            delivered = TokenRequestError("token request was cancelled", retryable=True)
        else:
            delivered = TokenRequestError(
                f"token request failed unexpectedly ({type(error).__name__})", retryable=False
            )
            if isinstance(error, Exception):
                logger.error("imstoken: unexpected error in token fetch", exc_info=error)
        if background:
            logger.warning(
                "imstoken: background refresh of the %s token failed; the current token stays "
                "in use until it expires (%s)",
                self.credential,
                delivered,
            )
        future.set_exception(delivered)
        if self._on_error is not None and isinstance(delivered, TokenRequestError):
            try:
                self._on_error(delivered)
            except Exception:
                logger.exception("imstoken: on_error callback raised")
