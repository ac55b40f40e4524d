"""One token fetch, as an object: the shared-cache steps around it, the retries inside it.

Both are I/O-free plans (:mod:`imstoken._plans`): the shared-cache plan here, the retry plan in
:mod:`imstoken._retry`. This module says how each step is done, sync or async.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

from . import _metrics as metrics
from ._backends import Backend
from ._budget import Budget, CacheLatency
from ._caches import SharedCache
from ._clocks import Clocks
from ._http import RawResponse, TokenClients, send_async, send_sync
from ._plans import drive, drive_sync
from ._policy import Entry, RefreshPolicy
from ._retry import Limits, SendAttempt, retry_plan
from ._token import CredentialKind, Token

logger = logging.getLogger("imstoken")


@dataclass(frozen=True, slots=True)
class CacheCall:
    """A step of the shared-cache plan: call ``function(*args)`` (named ``what`` in logs)."""

    what: str
    function: Callable[..., Any]
    args: tuple[Any, ...]


#: Yields cache calls, or None for "fetch from the endpoint now"; returns the entry.
CachePlan = Generator[CacheCall | None, Any, Entry]


@dataclass(eq=False)
class Fetcher:
    """Fetches one token for one credential: shared cache first, then the token endpoint."""

    backend: Backend
    cache_key: str
    api_headers: dict[str, str]
    shared: SharedCache | None
    policy: RefreshPolicy
    limits: Limits
    clocks: Clocks
    clients: TokenClients = field(repr=False)
    cache_latency: CacheLatency = field(default_factory=CacheLatency, repr=False)

    @property
    def credential(self) -> CredentialKind:
        """``"jwt"`` or ``"oauth"``: what the backend presents."""
        return self.backend.credential

    def lock_times(self) -> tuple[float, float]:
        """(expiry, wait) of the cross-process refresh lock.

        The holder fetches for at most ``deadline`` (one more ``timeout`` is slack), so its lock
        expires then even if it died. Waiters wait a little longer than that expiry: a lock
        left by a dead holder is then taken over by exactly one waiter, not by all of them.
        """
        lock_ttl = self.limits.deadline + self.limits.timeout
        return lock_ttl, lock_ttl + 0.25

    def headers_for(self, token: Token) -> dict[str, str]:
        """The API request headers that carry ``token``."""
        return {"Authorization": f"Bearer {token.access_token}", **self.api_headers}

    def make_entry(self, token: Token, obtained_at: float) -> Entry:
        """The cache entry for ``token``, with the API headers and the policy's instants."""
        metrics.token_obtained(token.credential, self.cache_key, token.expires_at)
        offset = self.clocks.monotonic() - self.clocks.wall()
        return self.policy.entry(
            token, obtained_at, self.headers_for(token), offset, self.limits.rng
        )

    # ------------------------------------------------------------------ doing the steps

    def fetch_sync(self, force: bool, started: float) -> Entry:
        """Fetch on this thread: a shared token if there is one, else the endpoint's."""
        if self.shared is None:
            return self._network_sync()
        budget = self.budget()

        def execute(step: CacheCall | None) -> Any:
            if step is None:
                return self._network_sync(budget.for_endpoint())
            return self._cache_call(step)

        return drive_sync(self._through_shared(self.shared, force, started, budget), execute)

    async def fetch_async(self, force: bool, started: float) -> Entry:
        """Fetch from asyncio: cache calls run in a worker thread, HTTP on the event loop."""
        if self.shared is None:
            return await self._network_async()
        import asyncio

        budget = self.budget()

        async def execute(step: CacheCall | None) -> Any:
            if step is None:
                return await self._network_async(budget.for_endpoint())
            return await asyncio.to_thread(self._cache_call, step)

        return await drive(self._through_shared(self.shared, force, started, budget), execute)

    def budget(self) -> Budget:
        """A new fetch's time budget: cache calls, lock waits and retries all spend it."""
        return Budget.for_fetch(self.clocks.monotonic, self.limits.deadline, self.limits.timeout)

    def _limits_within(self, deadline: float | None) -> Limits:
        return self.limits if deadline is None else replace(self.limits, deadline=deadline)

    def _network_sync(self, deadline: float | None = None) -> Entry:
        client = self.clients.sync()

        def execute(step: SendAttempt | float) -> RawResponse | None:
            if isinstance(step, SendAttempt):
                return send_sync(client, step.request, step.budget)
            self.clocks.sleep(step)
            return None

        plan = retry_plan(self.backend, self._limits_within(deadline), self.clocks)
        return self.make_entry(*drive_sync(plan, execute))

    async def _network_async(self, deadline: float | None = None) -> Entry:
        client = await self.clients.asynchronous()

        async def execute(step: SendAttempt | float) -> RawResponse | None:
            if isinstance(step, SendAttempt):
                return await send_async(client, step.request, step.budget)
            await self.clocks.sleep_async(step)
            return None

        plan = retry_plan(self.backend, self._limits_within(deadline), self.clocks)
        return self.make_entry(*await drive(plan, execute))

    def load_shared(self) -> tuple[Token, float] | None:
        """The shared cache's ``(token, obtained_at)`` for this key, or None (no cache, no
        record, or a cache that failed): read after an API's 401, without any lock."""
        if self.shared is None:
            return None
        loaded = self._cache_call(CacheCall("load", self.shared.load, (self.cache_key,)))
        if isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[0], Token):
            return loaded[0], float(loaded[1])
        return None

    def delete_shared(self) -> None:
        """Forget the token in the shared cache, if there is one."""
        if self.shared is not None:
            self._cache_call(CacheCall("delete", self.shared.delete, (self.cache_key,)))

    async def aclose(self) -> None:
        """Close the async HTTP client, if imstoken made it."""
        await self.clients.aclose()

    def close(self) -> None:
        """Close the sync HTTP client (if imstoken made it) and the shared cache."""
        self.clients.close()
        if self.shared is not None:
            self.shared.close()

    @staticmethod
    def _cache_call(step: CacheCall) -> Any:
        # Shared caches degrade by themselves; this is the last guard so a token request never
        # fails because a cache misbehaved.
        try:
            return step.function(*step.args)
        except Exception as error:  # noqa: BLE001
            logger.warning("imstoken: shared cache %s failed (%s)", step.what, type(error).__name__)
            return None

    # ------------------------------------------------------------------ the plan (no I/O)

    def _through_shared(
        self, shared: SharedCache, force: bool, started: float, budget: Budget | None = None
    ) -> CachePlan:
        """A fresh shared token, else one fetch under the shared lock, stored for the others.

        Every cache call spends ``budget``: one that would eat into the endpoint's reserve
        (judged by how long this store's calls took lately) is skipped. Whatever happens after
        the lock is taken (a failed fetch, a cancelled caller), the plan releases it before
        the error goes on.
        """
        key = self.cache_key
        cost = self.cache_latency
        budget = budget or self.budget()
        load = CacheCall("load", shared.load, (key,))
        if not force and budget.allows(cost.seconds):
            found = self._shared_entry((yield from self._timed(load)), started, force)
            if found is not None:
                return found
        handle = None
        # acquire, the load under the lock, and the release: all three must fit.
        if budget.allows(cost.seconds, calls=3):
            lock_ttl, lock_wait = self.lock_times()
            wait = budget.lock_wait(lock_wait, cost.seconds * 2)
            acquire = CacheCall("acquire", shared.acquire, (key, lock_ttl, wait))
            handle = yield from self._timed(acquire)
            tried_lock = True
        else:
            tried_lock = False
        release = CacheCall("release", shared.release, (handle,))
        try:
            found = None
            if tried_lock and budget.allows(cost.seconds, calls=2 if handle is not None else 1):
                found = self._shared_entry((yield from self._timed(load)), started, force)
            if found is None:
                found = yield None
                if budget.remaining() >= cost.seconds * (2 if handle is not None else 1):
                    store = CacheCall("store", shared.store, (key, found.token, found.obtained_at))
                    yield from self._timed(store)
        except GeneratorExit:
            # Closed mid-fetch (its driver was dropped): nothing may be yielded now, so release
            # here, or every process would wait out the lock's expiry.
            if handle is not None:
                self._cache_call(release)
            raise
        except BaseException:
            if handle is not None:
                yield release
            raise
        if handle is not None:
            yield release
        return found

    def _timed(self, call: CacheCall) -> Generator[CacheCall | None, Any, Any]:
        """Yield one cache call and note how long it took (for the next budget decisions)."""
        begin = self.clocks.monotonic()
        result = yield call
        self.cache_latency.observe(self.clocks.monotonic() - begin)
        return result

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
        now = self.clocks.wall()
        # Another host's clock may run a little ahead of ours: its token is not "from the
        # future" (which is_fresh treats as a clock that went back), it is simply new.
        entry = self.make_entry(token, min(obtained_at, now))
        if not entry.is_fresh(now, self.clocks.monotonic()):
            return None
        metrics.shared_hit(token.credential, metrics.cache_layer(self.shared))
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
