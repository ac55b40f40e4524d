"""How a provider fetches a token: the retry policy, the transports and the shared cache.

``Fetcher`` is a mixin of :class:`~imstoken._provider.TokenProvider`, kept apart so that the
provider's module holds the decisions (fresh, stale, expired, single flight) and this one the
I/O around one fetch. The retry policy is one I/O-free generator that the sync and the async
path both drive.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import httpx

from ._backends import Backend, TokenRequest
from ._caches._protocol import SharedCache
from ._errors import TokenRequestError
from ._http._transport import (
    RawResponse,
    new_async_client,
    new_sync_client,
    send_async,
    send_sync,
    shared_ssl_context,
)
from ._policy import Entry, RefreshPolicy
from ._retry import Backoff, should_retry
from ._token import CredentialKind, Token

if TYPE_CHECKING:
    import asyncio

logger = logging.getLogger("imstoken")


@dataclass(frozen=True, slots=True)
class _Send:
    """A step of the retry policy: send ``request`` within ``budget`` seconds."""

    request: TokenRequest
    budget: float


class Fetcher:
    """Fetching one token (mixin: TokenProvider sets these attributes in ``__init__``)."""

    _backend: Backend
    _cache_key: str
    _api_headers: dict[str, str]
    _shared: SharedCache | None
    _policy: RefreshPolicy
    _backoff: Backoff
    _timeout: float
    _deadline: float
    _clock: Callable[[], float]
    _sleep: Callable[[float], None]
    _async_sleep: Callable[[float], Awaitable[None]] | None
    _monotonic: Callable[[], float]
    _rng: random.Random
    _own_client: bool
    _client: httpx.Client | None
    _own_aclient: bool
    _aclient: httpx.AsyncClient | None
    _aclient_loop: asyncio.AbstractEventLoop | None
    _client_lock: threading.Lock

    @property
    def credential(self) -> CredentialKind:
        """Which backend this provider uses: ``"jwt"`` or ``"oauth"``."""
        return self._backend.credential

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
