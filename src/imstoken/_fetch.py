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
from ._caches import _bounded as bounded
from ._clocks import Clocks
from ._http import RawResponse, TokenClients, send_async, send_sync
from ._plans import drive, drive_sync
from ._policy import Entry, RefreshPolicy
from ._retry import Limits, SendAttempt, retry_plan
from ._token import CredentialKind, Token

logger = logging.getLogger("imstoken")


@dataclass(frozen=True, slots=True)
class CacheCall:
    """A step of the shared-cache plan: call ``function(*args)`` (named ``what`` in logs).

    The caller waits for it at most ``within`` seconds (None: no limit; 0 or less: not at all),
    then abandons it; ``undo(result)`` then cleans up after it if it completes later.
    """

    what: str
    function: Callable[..., Any]
    args: tuple[Any, ...]
    within: float | None = None
    undo: Callable[[Any], None] | None = None


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
    #: Whether an abandoned (late) cache call was logged as a WARNING since the last timely one.
    late_reported: bool = field(default=False, repr=False)

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

    def fetch_sync(self, force: bool, started: float, avoid: str | None = None) -> Entry:
        """Fetch on this thread: a shared token if there is one, else the endpoint's.

        ``avoid``: the access token an API rejected (a forced fetch because of a 401): any other
        fresh shared token will do, however old.
        """
        if self.shared is None:
            return self._network_sync()
        budget = self.budget()

        def execute(step: CacheCall | None) -> Any:
            if step is None:
                return self._network_sync(budget.for_endpoint())
            future = bounded.submit(self._cache_call, step)
            try:
                finished, result = bounded.wait_sync(future, step.within)
            except BaseException:
                self._abandon(step, future)
                raise
            return self._outcome(step, future, finished, result)

        plan = self._through_shared(self.shared, force, started, budget, avoid)
        return drive_sync(plan, execute)

    async def fetch_async(self, force: bool, started: float, avoid: str | None = None) -> Entry:
        """Fetch from asyncio: cache calls run in a worker thread, HTTP on the event loop."""
        if self.shared is None:
            return await self._network_async()
        budget = self.budget()

        async def execute(step: CacheCall | None) -> Any:
            if step is None:
                return await self._network_async(budget.for_endpoint())
            future = bounded.submit(self._cache_call, step)
            try:
                finished, result = await bounded.wait_async(future, step.within)
            except BaseException:  # cancelled while waiting: the call goes on alone
                self._abandon(step, future)
                raise
            return self._outcome(step, future, finished, result)

        plan = self._through_shared(self.shared, force, started, budget, avoid)
        return await drive(plan, execute)

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
        """Forget the token in the shared cache, if there is one (waiting at most ``deadline``)."""
        if self.shared is not None:
            future = bounded.submit(
                self._cache_call, CacheCall("delete", self.shared.delete, (self.cache_key,))
            )
            if not bounded.wait_sync(future, self.limits.deadline)[0]:
                bounded.abandon(future)

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

    def _outcome(self, step: CacheCall, future: Any, finished: bool, result: Any) -> Any:
        """A cache call's result if it finished in time; else it is abandoned (None)."""
        if finished:
            self.late_reported = False
            return result
        self._abandon(step, future)
        return None

    def _abandon(self, step: CacheCall, future: Any) -> None:
        """Stop waiting for a cache call that overran its share of the deadline."""
        bounded.abandon(future, step.undo)
        level = logging.INFO if self.late_reported else logging.WARNING
        self.late_reported = True
        logger.log(
            level,
            "imstoken: shared cache %s took longer than the %.2f s the deadline left for it; "
            "going on without it",
            step.what,
            max(step.within or 0.0, 0.0),
        )

    # ------------------------------------------------------------------ the plan (no I/O)

    def _through_shared(
        self,
        shared: SharedCache,
        force: bool,
        started: float,
        budget: Budget | None = None,
        avoid: str | None = None,
    ) -> CachePlan:
        """A fresh shared token, else one fetch under the shared lock, stored for the others.

        Every cache call spends ``budget``: one that would eat into the endpoint's reserve
        (judged by how long this store's calls took lately) is skipped. Whatever happens after
        the lock is taken (a failed fetch, a cancelled caller), the plan releases it before
        the error goes on.
        """
        key = self.cache_key
        budget = budget or self.budget()
        cost = self.cache_latency.estimate(self.clocks.monotonic())
        load = CacheCall("load", shared.load, (key,))
        if not force and budget.allows(cost):
            loaded = yield from self._timed(load, budget.cache_window())
            found = self._shared_entry(loaded, started, force, avoid)
            if found is not None:
                return found
            cost = self.cache_latency.estimate(self.clocks.monotonic())
        handle = None
        # acquire, the load under the lock, and the release: all three must fit.
        if budget.allows(cost, calls=3):
            lock_ttl, lock_wait = self.lock_times()
            wait = budget.lock_wait(lock_wait, cost * 2)
            # A lock taken after its caller gave up on it is released as soon as it is taken.
            acquire = CacheCall(
                "acquire", shared.acquire, (key, lock_ttl, wait), undo=shared.release
            )
            handle = yield from self._timed(acquire, budget.cache_window())
            tried_lock = True
        else:
            tried_lock = False
        try:
            found = None
            cost = self.cache_latency.estimate(self.clocks.monotonic())
            if tried_lock and budget.allows(cost, calls=2 if handle is not None else 1):
                loaded = yield from self._timed(load, budget.cache_window())
                found = self._shared_entry(loaded, started, force, avoid)
            if found is None:
                found = yield None
                cost = self.cache_latency.estimate(self.clocks.monotonic())
                if budget.remaining() >= cost * (2 if handle is not None else 1):
                    store = CacheCall("store", shared.store, (key, found.token, found.obtained_at))
                    # After the endpoint: what is left of the deadline, the release's share
                    # included (an abandoned store is harmless).
                    yield from self._timed(store, budget.remaining())
        except GeneratorExit:
            # Closed mid-fetch (its driver was dropped): nothing may be yielded now, so release
            # in the background, or every process would wait out the lock's expiry.
            if handle is not None:
                bounded.submit(self._cache_call, self._release(shared, handle, budget))
            raise
        except BaseException:
            if handle is not None:
                yield self._release(shared, handle, budget)
            raise
        if handle is not None:
            yield self._release(shared, handle, budget)
        return found

    @staticmethod
    def _release(shared: SharedCache, handle: Any, budget: Budget) -> CacheCall:
        """The lock's release: waited for while the deadline lasts, then it goes on alone."""
        return CacheCall("release", shared.release, (handle,), within=max(budget.remaining(), 0.0))

    def _timed(self, call: CacheCall, within: float) -> Generator[CacheCall | None, Any, Any]:
        """Yield one cache call, waited for at most ``within`` seconds, and note how long it
        took (for the next budget decisions); one that overran counts as taking ``within``."""
        begin = self.clocks.monotonic()
        result = yield replace(call, within=within)
        took = self.clocks.monotonic() - begin
        self.cache_latency.observe(min(took, max(within, 0.0)), self.clocks.monotonic())
        return result

    def _shared_entry(
        self,
        loaded: tuple[Token, float] | None,
        started: float,
        force: bool,
        avoid: str | None = None,
    ) -> Entry | None:
        """Accept a token from the shared cache if it is fresh and, when forced, newer (or, when
        forced by an API's 401, any token but the rejected one: another process replaced it)."""
        if loaded is None:
            return None
        token, obtained_at = loaded
        if token.credential != self.credential:
            return None
        if avoid is not None:
            if token.access_token == avoid:
                return None
        elif force and obtained_at < started:
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
