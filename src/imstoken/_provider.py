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
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import httpx

from . import _memory
from ._cache import SharedCache
from ._exceptions import ImsTokenError, TokenRequestError
from ._policy import Entry, RefreshPolicy
from ._retry import Backoff, should_retry
from ._token import CredentialKind, Token
from ._transport import (
    RawResponse,
    new_async_client,
    new_sync_client,
    prepare_ssl_context,
    send_async,
    send_sync,
    shared_ssl_context,
)
from ._wire import Backend, TokenRequest

if TYPE_CHECKING:
    import asyncio

    from ._requests_auth import RequestsAuth

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


@dataclass(frozen=True, slots=True)
class _Send:
    """A step of the retry policy: send ``request`` within ``budget`` seconds."""

    request: TokenRequest
    budget: float


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


class TokenProvider(httpx.Auth):
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
        self._slot = _memory.slot_for(cache_key)
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
    def credential(self) -> CredentialKind:
        """Which backend this provider uses: ``"jwt"`` or ``"oauth"``."""
        return self._backend.credential

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
        entry = self._slot.entry
        if entry is None or not (
            entry.obtained_at <= self._clock() < entry.stale_at
            and self._monotonic() < entry.mono_stale_at
        ):
            entry = self._entry_sync(False, None)
        return entry.headers.copy()

    async def aheaders(self) -> dict[str, str]:
        """Like :meth:`headers`, for asyncio."""
        entry = self._slot.entry
        if entry is None or not (
            entry.obtained_at <= self._clock() < entry.stale_at
            and self._monotonic() < entry.mono_stale_at
        ):
            entry = await self._entry_async(False, None)
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
        from ._requests_auth import RequestsAuth

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
        entry = self._slot.entry
        if entry is None or not (
            entry.obtained_at <= self._clock() < entry.stale_at
            and self._monotonic() < entry.mono_stale_at
        ):
            entry = self._entry_sync(False, None)
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
        entry = self._slot.entry
        if entry is None or not (
            entry.obtained_at <= self._clock() < entry.stale_at
            and self._monotonic() < entry.mono_stale_at
        ):
            entry = await self._entry_async(False, None)
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
            executor = _memory.refresh_executor()
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

    def _http_client(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = new_sync_client(self._timeout)
                client = self._client
        return client

    def _fetch_sync(self, force: bool, started: float) -> Entry:
        shared = self._shared
        if shared is None:
            return self._fetch_network_sync()
        key = self._cache_key
        if not force:
            found = self._shared_entry(self._shared_call("load", shared.load, key), started, force)
            if found is not None:
                return found
        lock_ttl, lock_wait = self._shared_lock_times()
        handle = self._shared_call("acquire", shared.acquire, key, lock_ttl, lock_wait)
        try:
            found = self._shared_entry(self._shared_call("load", shared.load, key), started, force)
            if found is not None:
                return found
            entry = self._fetch_network_sync()
            self._shared_call("store", shared.store, key, entry.token, entry.obtained_at)
            return entry
        finally:
            if handle is not None:
                self._shared_call("release", shared.release, handle)

    def _fetch_network_sync(self) -> Entry:
        client = self._http_client()
        plan = self._attempts()
        step = next(plan)
        while True:
            try:
                if isinstance(step, _Send):
                    try:
                        outcome: RawResponse | TokenRequestError = send_sync(
                            client, step.request, step.budget
                        )
                    except TokenRequestError as error:
                        outcome = error
                    step = plan.send(outcome)
                else:
                    self._sleep(step)
                    step = plan.send(None)
            except StopIteration as done:
                return cast(Entry, done.value)

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

    async def _async_http_client(self) -> httpx.AsyncClient:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._aclient is None or (self._own_aclient and self._aclient_loop is not loop):
            # Loading the CA bundle takes tens of milliseconds: never on the event loop.
            await asyncio.to_thread(shared_ssl_context)
            if self._aclient is None or (self._own_aclient and self._aclient_loop is not loop):
                # httpx's async pool is bound to one event loop; a new loop gets a new client.
                self._aclient = new_async_client(self._timeout)
                self._aclient_loop = loop
        return self._aclient

    async def _fetch_async(self, force: bool, started: float) -> Entry:
        import asyncio

        shared = self._shared
        if shared is None:
            return await self._fetch_network_async()
        key = self._cache_key
        if not force:
            loaded = await asyncio.to_thread(self._shared_call, "load", shared.load, key)
            found = self._shared_entry(loaded, started, force)
            if found is not None:
                return found
        lock_ttl, lock_wait = self._shared_lock_times()
        handle = await asyncio.to_thread(
            self._shared_call, "acquire", shared.acquire, key, lock_ttl, lock_wait
        )
        try:
            loaded = await asyncio.to_thread(self._shared_call, "load", shared.load, key)
            found = self._shared_entry(loaded, started, force)
            if found is not None:
                return found
            entry = await self._fetch_network_async()
            await asyncio.to_thread(
                self._shared_call, "store", shared.store, key, entry.token, entry.obtained_at
            )
            return entry
        finally:
            if handle is not None:
                await asyncio.to_thread(self._shared_call, "release", shared.release, handle)

    async def _fetch_network_async(self) -> Entry:
        client = await self._async_http_client()
        plan = self._attempts()
        step = next(plan)
        while True:
            try:
                if isinstance(step, _Send):
                    try:
                        outcome: RawResponse | TokenRequestError = await send_async(
                            client, step.request, step.budget
                        )
                    except TokenRequestError as error:
                        outcome = error
                    step = plan.send(outcome)
                else:
                    await self._sleep_async(step)
                    step = plan.send(None)
            except StopIteration as done:
                return cast(Entry, done.value)

    async def _sleep_async(self, seconds: float) -> None:
        if self._async_sleep is not None:
            await self._async_sleep(seconds)
            return
        import asyncio

        await asyncio.sleep(seconds)

    # ------------------------------------------------------------------ shared pieces

    def _attempts(self) -> Generator[_Send | float, RawResponse | TokenRequestError | None, Entry]:
        """The retry policy, free of I/O: yields what to send (or how long to sleep), is sent
        each outcome, returns the Entry or raises the final error. Sync and async drive it."""
        begin = self._monotonic()
        attempt = 0
        while True:
            attempt += 1
            sent_at = self._clock()
            request = self._backend.build_request(sent_at)
            budget = min(self._timeout, self._deadline - (self._monotonic() - begin))
            outcome = yield _Send(request, budget)
            try:
                if isinstance(outcome, TokenRequestError):
                    raise outcome
                assert outcome is not None
                token = self._backend.parse_response(
                    outcome.status, outcome.headers, outcome.body, sent_at
                )
            except TokenRequestError as error:
                delay = self._next_delay(error, attempt, begin)
                if delay is None:
                    self._log_failure(error, attempt, begin)
                    raise
                yield delay
                continue
            return self._accept(token, sent_at, attempt, begin)

    def _next_delay(self, error: TokenRequestError, attempt: int, begin: float) -> float | None:
        """The wait before the next attempt, or None to give up (not retryable, or no time)."""
        if not should_retry(error, attempt, self._backoff):
            return None
        delay = self._backoff.delay(attempt, error, self._rng)
        remaining = self._deadline - (self._monotonic() - begin)
        if delay + 0.05 >= remaining:
            return None
        logger.warning(
            "imstoken: token request failed (%s), retrying in %.2fs (attempt %d)",
            error.error or error.status_code or "error",
            delay,
            attempt,
            extra={"imstoken_credential": self.credential, "imstoken_debug_id": error.debug_id},
        )
        return delay

    def _log_failure(self, error: TokenRequestError, attempts: int, begin: float) -> None:
        latency_ms = (self._monotonic() - begin) * 1000
        logger.error(
            "imstoken: %s token request failed after %d attempt(s) in %.0f ms: %s",
            self.credential,
            attempts,
            latency_ms,
            error,
            extra={
                "imstoken_credential": self.credential,
                "imstoken_outcome": "error",
                "imstoken_error": error.error,
                "imstoken_status": error.status_code,
                "imstoken_debug_id": error.debug_id,
                "imstoken_latency_ms": latency_ms,
                "imstoken_attempts": attempts,
            },
        )

    def _accept(self, token: Token, sent_at: float, attempts: int, begin: float) -> Entry:
        entry = self._make_entry(token, sent_at)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "imstoken: fetched %s token in %.0f ms (%d attempt(s)), expires in %.0f s",
                token.credential,
                (self._monotonic() - begin) * 1000,
                attempts,
                token.expires_at - sent_at,
                extra={
                    "imstoken_credential": token.credential,
                    "imstoken_outcome": "fetched",
                    "imstoken_expires_at": token.expires_at,
                    "imstoken_latency_ms": (self._monotonic() - begin) * 1000,
                    "imstoken_attempts": attempts,
                },
            )
        return entry

    def _make_entry(self, token: Token, obtained_at: float) -> Entry:
        headers = {"Authorization": f"Bearer {token.access_token}", **self._api_headers}
        offset = self._monotonic() - self._clock()
        return self._policy.entry(token, obtained_at, headers, offset)

    def _shared_entry(
        self, loaded: tuple[Token, float] | None, started: float, force: bool
    ) -> Entry | None:
        """Accept a token from the shared cache if it is fresh (and, when forced, newer)."""
        if loaded is None:
            return None
        token, obtained_at = loaded
        if token.credential != self.credential:
            return None
        if force and obtained_at < started:
            return None
        now = self._clock()
        # Another host's clock may run a little ahead of ours: its token is not "from the
        # future" (which is_fresh treats as a clock that went back), it is simply new.
        entry = self._make_entry(token, min(obtained_at, now))
        if not entry.is_fresh(now, self._monotonic()):
            return None
        if logger.isEnabledFor(logging.INFO):
            # So every process's log shows which credential it uses, not only the fetcher's.
            logger.info(
                "imstoken: using %s token from the shared cache, expires in %.0f s",
                token.credential,
                token.expires_at - now,
                extra={
                    "imstoken_credential": token.credential,
                    "imstoken_outcome": "shared",
                    "imstoken_expires_at": token.expires_at,
                },
            )
        return entry

    def _shared_lock_times(self) -> tuple[float, float]:
        """(expiry, wait) of the cross-process refresh lock.

        The holder fetches for at most ``deadline`` (one more ``timeout`` is slack), so its lock
        expires then even if it died. Waiters wait a little longer than that expiry: a lock
        left by a dead holder is then taken over by exactly one waiter, not by all of them.
        """
        lock_ttl = self._deadline + self._timeout
        return lock_ttl, lock_ttl + 0.25

    def _shared_call(self, what: str, function: Callable[..., Any], *args: Any) -> Any:
        # Shared caches degrade by themselves; this is the last guard so a token request never
        # fails because a cache misbehaved.
        try:
            return function(*args)
        except Exception as error:  # noqa: BLE001
            logger.warning("imstoken: shared cache %s failed (%s)", what, type(error).__name__)
            return None

    def _finish_success(self, future: Future[Entry], entry: Entry) -> None:
        slot = self._slot
        with slot.lock:
            slot.entry = entry  # a fetched token is the newest by construction
            if slot.inflight is future:
                slot.inflight = None
            slot.next_attempt_at = 0.0
        future.set_result(entry)
        _memory.refresh_executor()  # warm the pool off the hot path, while a fetch just ran
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
