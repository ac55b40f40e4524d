"""The httpx clients of one provider's token requests: made on first need, closed if ours."""

from __future__ import annotations

import threading
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import httpx

from ._tls import shared_ssl_context

if TYPE_CHECKING:
    import asyncio

USER_AGENT = "imstoken/0.1"
# Each attempt gets a connection of its own: a retry after a failure may reach another backend
# behind the load balancer, and the sync watchdog always sees the socket it must cut.
_LIMITS = httpx.Limits(max_keepalive_connections=0)


def _no_cookies() -> CookieJar:
    """A jar that keeps no cookie: a token client is stateless, so a ``Set-Cookie`` from the
    token endpoint is never sent back."""
    return CookieJar(DefaultCookiePolicy(allowed_domains=[]))


def _client_options(timeout: float) -> dict[str, Any]:
    """No redirects, no cookies, explicit timeouts, the process's shared TLS context."""
    return {
        "cookies": _no_cookies(),
        "timeout": httpx.Timeout(timeout),
        "limits": _LIMITS,
        "follow_redirects": False,
        "headers": {"User-Agent": USER_AGENT},
        "verify": shared_ssl_context(),
    }


def new_sync_client(timeout: float) -> httpx.Client:
    """An httpx client for token requests."""
    return httpx.Client(**_client_options(timeout))


def new_async_client(timeout: float) -> httpx.AsyncClient:
    """The asyncio twin of :func:`new_sync_client` (call it off the event loop the first time:
    the shared TLS context may still have to load the CA bundle)."""
    return httpx.AsyncClient(**_client_options(timeout))


class TokenClients:
    """A sync and an async httpx client: the caller's own (never closed here) or ours."""

    def __init__(
        self,
        timeout: float,
        sync: httpx.Client | None = None,
        asynchronous: httpx.AsyncClient | None = None,
    ) -> None:
        self._timeout = timeout
        self._sync, self._own_sync = sync, sync is None
        self._async, self._own_async = asynchronous, asynchronous is None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def makes_its_own(self) -> bool:
        """Whether one of the clients will be ours (and so needs the shared TLS context)."""
        return self._own_sync or self._own_async

    def sync(self) -> httpx.Client:
        """The sync client, made on first use."""
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    self._sync = new_sync_client(self._timeout)
                client = self._sync
        return client

    async def asynchronous(self) -> httpx.AsyncClient:
        """The async client for the running event loop, made on first use on that loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or (self._own_async and self._async_loop is not loop):
            # Loading the CA bundle takes tens of milliseconds: never on the event loop.
            await asyncio.to_thread(shared_ssl_context)
            if self._async is None or (self._own_async and self._async_loop is not loop):
                # httpx's async pool is bound to one event loop; a new loop gets a new client.
                self._async = new_async_client(self._timeout)
                self._async_loop = loop
        return self._async

    def close(self) -> None:
        """Close the sync client if it is ours."""
        with self._lock:
            if self._sync is not None and self._own_sync:
                self._sync.close()
                self._sync = None

    async def aclose(self) -> None:
        """Close the async client if it is ours."""
        if self._async is not None and self._own_async:
            await self._async.aclose()
            self._async = None
