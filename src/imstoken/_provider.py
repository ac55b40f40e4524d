"""TokenProvider: the public API and the httpx auth flows, over parts it holds and inherits none of.

- a :class:`~imstoken._slots.Slot`: the process-wide token and single-flight state of its key;
- a :class:`~imstoken._refresh.Refresher`: who serves, who fetches, who waits;
- a :class:`~imstoken._fetch.Fetcher`: one fetch (shared cache, retries, transport).

The hot path (a fresh token in memory) reads the slot and two clocks, nothing else.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Self

import httpx

from ._adapters._httpx import HeaderStamp, api_host, may_resend
from ._backends import Backend
from ._caches import SharedCache
from ._clocks import Clocks
from ._fetch import Fetcher
from ._flight import LockLedger
from ._http import TokenClients, prepare_ssl_context, start_watchdog_thread
from ._policy import Entry, RefreshPolicy, process_rng
from ._refresh import ErrorCallback, Refresher, TokenCallback
from ._rejections import DEFAULT_REJECT_REFRESH_INTERVAL, RejectionGuard
from ._retry import Backoff, Limits
from ._slots import slot_for
from ._token import CredentialKind, Token

if TYPE_CHECKING:
    from ._adapters._requests import RequestsAuth


class TokenProvider(httpx.Auth):
    """Hands out valid access tokens for one credential, cached and refreshed ahead of expiry.

    Build one with :func:`imstoken.from_config`, :func:`imstoken.from_env` or
    :func:`imstoken.from_file` (their keyword options are :class:`imstoken.ProviderOptions`).
    It is also an ``httpx.Auth`` (sync and async), and :meth:`requests_auth` adapts it to
    ``requests``.
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
        reject_refresh_interval: float = DEFAULT_REJECT_REFRESH_INTERVAL,
    ) -> None:
        clocks = Clocks(wall=clock, monotonic=monotonic, sleep=sleep, async_sleep=async_sleep)
        # One process-wide rng unless injected: seeding one per provider costs ~20 µs.
        limits = Limits(timeout, deadline, backoff or Backoff(), rng or process_rng())
        clients = TokenClients(timeout, http_client, async_http_client)
        self._fetcher = Fetcher(
            backend,
            cache_key,
            dict(api_headers or {}),
            LockLedger(shared_cache) if shared_cache is not None else None,
            policy or RefreshPolicy(),
            limits,
            clocks,
            clients,
        )
        self._slot = slot_for(cache_key)
        self._refresher = Refresher(self._slot, self._fetcher, on_token=on_token, on_error=on_error)
        self._rejections = RejectionGuard(
            self._slot, self._refresher, self._fetcher, reject_refresh_interval
        )
        # The hot path reads these directly: one attribute each, no indirection.
        self._clock = clock
        self._monotonic = monotonic
        self._stamp = HeaderStamp()
        if clients.makes_its_own:
            prepare_ssl_context()
        start_watchdog_thread()

    # ------------------------------------------------------------------ public API

    @property
    def credential(self) -> CredentialKind:
        """Which backend this provider uses: ``"jwt"`` or ``"oauth"``."""
        return self._fetcher.credential

    @property
    def cache_key(self) -> str:
        """The key this provider's token is cached under (derived from identity, not secrets)."""
        return self._fetcher.cache_key

    @property
    def token_url(self) -> str:
        """The token endpoint this provider asks."""
        return self._fetcher.backend.token_url

    def get_token(self, *, force_refresh: bool = False) -> Token:
        """A valid token, from the cache when possible. ``force_refresh`` bypasses the cache."""
        if not force_refresh:
            # The hottest path: _fresh_entry() written out, since a call costs a third more.
            entry = self._slot.entry
            if (
                entry is not None
                and entry.obtained_at <= self._clock() < entry.stale_at
                and self._monotonic() < entry.mono_stale_at
            ):
                return entry.token
        return self._refresher.entry_sync(force_refresh, None).token

    async def aget_token(self, *, force_refresh: bool = False) -> Token:
        """Like :meth:`get_token`, for asyncio: network I/O never blocks the event loop."""
        if not force_refresh:
            entry = self._slot.entry  # as in get_token
            if (
                entry is not None
                and entry.obtained_at <= self._clock() < entry.stale_at
                and self._monotonic() < entry.mono_stale_at
            ):
                return entry.token
        return (await self._refresher.entry_async(force_refresh, None)).token

    def headers(self) -> dict[str, str]:
        """Request headers for Adobe APIs: ``Authorization``, ``x-api-key``, ``x-gw-ims-org-id``."""
        return self._current_entry().headers.copy()

    async def aheaders(self) -> dict[str, str]:
        """Like :meth:`headers`, for asyncio."""
        return (await self._acurrent_entry()).headers.copy()

    def headers_for(self, token: Token) -> dict[str, str]:
        """The request headers that carry ``token`` (from :meth:`get_token`)."""
        entry = self._slot.entry
        if entry is not None and entry.token is token:
            return entry.headers.copy()
        return self._fetcher.headers_for(token)

    def refresh_rejected(self, rejected: Token, *, host: str | None = None) -> Token:
        """After an API (``host``, for the log) answered 401 to ``rejected``: a newer token,
        one refresh for all; or ``rejected`` itself when this credential's token was replaced
        because of a 401 less than ``reject_refresh_interval`` ago (then send nothing again).
        """
        entry = self._rejections.replace_sync(rejected, host)
        return rejected if entry is None else entry.token

    async def arefresh_rejected(self, rejected: Token, *, host: str | None = None) -> Token:
        """The asyncio twin of :meth:`refresh_rejected`."""
        entry = await self._rejections.replace_async(rejected, host)
        return rejected if entry is None else entry.token

    def invalidate(self) -> None:
        """Drop the cached token (memory and shared cache); the next call fetches a new one."""
        self._refresher.invalidate()

    def requests_auth(self) -> RequestsAuth:
        """A ``requests`` auth object over this provider (needs the ``requests`` extra)."""
        from ._adapters._requests import RequestsAuth

        return RequestsAuth(self)

    def close(self) -> None:
        """Close HTTP clients and wait briefly for background refresh threads."""
        self._refresher.close()
        self._fetcher.close()

    async def aclose(self) -> None:
        """Close the async HTTP client, cancel background tasks, then what :meth:`close` closes."""
        import asyncio

        await self._refresher.cancel_tasks()
        await self._fetcher.aclose()
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
            f"cache_key={self.cache_key!r})"
        )

    # ------------------------------------------------------------------ httpx.Auth

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the headers; on a 401 refresh once and send the request once more.

        The 401 goes back unchanged when it came from another origin (a redirect), when the
        body cannot be sent again, or when the token was replaced because of a 401 less than
        ``reject_refresh_interval`` ago.
        """
        entry = self._current_entry()
        self._stamp.apply(request, entry)
        response = yield request
        if response.status_code == 401 and may_resend(request, response):
            replacement = self._rejections.replace_sync(entry.token, api_host(request))
            if replacement is not None:
                self._stamp.apply(request, replacement)
                yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The asyncio twin of :meth:`sync_auth_flow`."""
        entry = await self._acurrent_entry()
        self._stamp.apply(request, entry)
        response = yield request
        if response.status_code == 401 and may_resend(request, response):
            replacement = await self._rejections.replace_async(entry.token, api_host(request))
            if replacement is not None:
                self._stamp.apply(request, replacement)
                yield request

    def _fresh_entry(self) -> Entry | None:
        """The slot's entry if it is fresh by both clocks: the one place that decides it."""
        entry = self._slot.entry
        if (
            entry is not None
            and entry.obtained_at <= self._clock() < entry.stale_at
            and self._monotonic() < entry.mono_stale_at
        ):
            return entry
        return None

    def _current_entry(self) -> Entry:
        """The fresh entry from memory, else through the refresher (headers, auth flows)."""
        return self._fresh_entry() or self._refresher.entry_sync(False, None)

    async def _acurrent_entry(self) -> Entry:
        """The asyncio twin of :meth:`_current_entry`."""
        return self._fresh_entry() or await self._refresher.entry_async(False, None)
