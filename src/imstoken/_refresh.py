"""Single flight: who serves, who fetches and who waits, for one cache key of the process.

The decision is made under the slot's lock (never held across I/O) and named: serve the cached
token, serve it and refresh in the background, lead the one fetch, or wait for it. The fetch
itself is a :class:`~imstoken._fetch.Fetcher`'s business.
"""

from __future__ import annotations

import copy
import enum
import logging
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _workers
from ._errors import ImsTokenError, TokenRequestError, TokenRequestTimedOut
from ._fetch import Fetcher
from ._policy import Entry
from ._slots import Slot, remember
from ._token import Token

if TYPE_CHECKING:
    import asyncio

logger = logging.getLogger("imstoken")

TokenCallback = Callable[[Token], object]
ErrorCallback = Callable[[TokenRequestError], object]


class Action(enum.Enum):
    """What a caller does after looking at the slot."""

    SERVE = "serve"  # the cached token is fresh
    SERVE_AND_REFRESH = "serve and refresh"  # still usable; this caller starts the refresh
    LEAD = "lead"  # nothing usable; this caller runs the one fetch and waits for it
    WAIT = "wait"  # nothing usable; another caller's fetch is running


@dataclass(frozen=True, slots=True)
class Decision:
    """The named result of looking at the slot: an action, the entry to serve, the fetch."""

    action: Action
    entry: Entry | None = None
    fetch: Future[Entry] | None = None


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


def _waited_too_long() -> TokenRequestTimedOut:
    return TokenRequestTimedOut(
        "timed out waiting for another caller's token request", retryable=True
    )


def _new_fetch() -> Future[Entry]:
    future: Future[Entry] = Future()
    future.set_running_or_notify_cancel()  # a running future cannot be cancelled by a waiter
    return future


class Refresher:
    """Serves entries for one slot, starting at most one fetch at a time for it."""

    def __init__(
        self,
        slot: Slot,
        fetcher: Fetcher,
        *,
        on_token: TokenCallback | None,
        on_error: ErrorCallback | None,
    ) -> None:
        self.slot = slot
        self._fetcher = fetcher
        self._clocks = fetcher.clocks
        self._callbacks = (on_token, on_error)
        self._background: set[Future[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False

    # ------------------------------------------------------------------ deciding

    def decide(self, force: bool, rejected: Token | None) -> Decision:
        """Look at the slot (under its lock) and say what this caller does."""
        slot = self.slot
        with slot.lock:
            now = self._clocks.wall()
            mono = self._clocks.monotonic()
            entry = slot.entry
            if (
                entry is not None
                and not force
                and entry.is_usable(now, mono)
                and (rejected is None or entry.token.access_token != rejected.access_token)
            ):
                if entry.is_fresh(now, mono):
                    return Decision(Action.SERVE, entry)
                if slot.inflight is None and now >= slot.next_attempt_at and not self.closed:
                    slot.inflight = _new_fetch()
                    return Decision(Action.SERVE_AND_REFRESH, entry, slot.inflight)
                return Decision(Action.SERVE, entry)
            if (
                rejected is not None
                and entry is not None
                and entry.token.access_token == rejected.access_token
            ):
                slot.entry = None  # never hand the rejected token out again
            if slot.inflight is None:
                slot.inflight = _new_fetch()
                return Decision(Action.LEAD, None, slot.inflight)
            return Decision(Action.WAIT, None, slot.inflight)

    def wait_limit(self) -> float:
        """How long a waiter waits for a fetch: a safety net only, since the leader gives up
        by itself at its deadline, after waiting at most the cross-process lock's wait."""
        fetcher = self._fetcher
        lock_wait = fetcher.lock_times()[1] if fetcher.shared is not None else 0.0
        return lock_wait + fetcher.limits.deadline + fetcher.limits.timeout + 1.0

    def invalidate(self) -> None:
        """Drop the token from the slot and the shared cache."""
        slot = self.slot
        with slot.lock:
            slot.entry = None
            slot.next_attempt_at = 0.0
        self._fetcher.delete_shared()

    # ------------------------------------------------------------------ sync path

    def entry_sync(self, force: bool, rejected: Token | None) -> Entry:
        """A usable entry for a sync caller; fetches (or waits for the fetch) if needed."""
        decision = self.decide(force, rejected)
        fetch = decision.fetch
        if decision.action is Action.SERVE_AND_REFRESH:
            assert fetch is not None and decision.entry is not None
            self._start_background_thread(fetch, force)
            return decision.entry
        if decision.entry is not None:
            return decision.entry
        assert fetch is not None
        if decision.action is Action.LEAD:
            self._run_sync(fetch, force or rejected is not None, background=False)
        try:
            return fetch.result(timeout=self.wait_limit())
        except FutureTimeout:
            raise _waited_too_long() from None
        except ImsTokenError as error:
            raise _clone(error) from None

    def _start_background_thread(self, fetch: Future[Entry], force: bool) -> None:
        try:
            done = _workers.refresh_executor().submit(self._run_sync, fetch, force, background=True)
        except RuntimeError as error:  # the interpreter is shutting down: no new threads
            self._finish_failure(fetch, error, background=True)
            return
        self._background.add(done)
        done.add_done_callback(self._background.discard)

    def _run_sync(self, fetch: Future[Entry], force: bool, *, background: bool) -> None:
        started = self._clocks.wall()
        try:
            entry = self._fetcher.fetch_sync(force, started)
        except BaseException as error:
            self._finish_failure(fetch, error, background=background)
            if not isinstance(error, Exception):
                raise
            return
        self._finish_success(fetch, entry)

    # ------------------------------------------------------------------ async path

    async def entry_async(self, force: bool, rejected: Token | None) -> Entry:
        """The asyncio twin of :meth:`entry_sync`; never blocks the event loop."""
        import asyncio

        decision = self.decide(force, rejected)
        fetch = decision.fetch
        if decision.action is Action.SERVE_AND_REFRESH:
            assert fetch is not None and decision.entry is not None
            self._spawn(self._run_async(fetch, force, background=True))
            return decision.entry
        if decision.entry is not None:
            return decision.entry
        assert fetch is not None
        if decision.action is Action.LEAD:
            # A task of its own: a cancelled caller must not abandon the others' fetch.
            forced = force or rejected is not None
            self._spawn(self._run_async(fetch, forced, background=False))
        try:
            async with asyncio.timeout(self.wait_limit()):
                return await asyncio.wrap_future(fetch)
        except TimeoutError:
            raise _waited_too_long() from None
        except ImsTokenError as error:
            raise _clone(error) from None

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        import asyncio

        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_async(self, fetch: Future[Entry], force: bool, *, background: bool) -> None:
        started = self._clocks.wall()
        try:
            entry = await self._fetcher.fetch_async(force, started)
        except BaseException as error:
            self._finish_failure(fetch, error, background=background)
            if _is_cancelled(error) or isinstance(error, Exception):
                return
            raise
        self._finish_success(fetch, entry)

    # ------------------------------------------------------------------ endings

    def _finish_success(self, fetch: Future[Entry], entry: Entry) -> None:
        slot = self.slot
        with slot.lock:
            slot.entry = entry  # a fetched token is the newest by construction
            if slot.inflight is fetch:
                slot.inflight = None
            slot.next_attempt_at = 0.0
        remember(slot, self._clocks.wall)  # a sweep may have dropped the slot while it was empty
        fetch.set_result(entry)
        _workers.refresh_executor()  # warm the pool off the hot path, while a fetch just ran
        on_token = self._callbacks[0]
        if on_token is not None:
            try:
                on_token(entry.token)
            except Exception:
                logger.exception("imstoken: on_token callback raised")

    def _finish_failure(
        self, fetch: Future[Entry], error: BaseException, *, background: bool
    ) -> None:
        slot = self.slot
        with slot.lock:
            if slot.inflight is fetch:
                slot.inflight = None
            # Space refresh attempts while a valid token exists; never loop on a failing IMS.
            pause = self._fetcher.policy.retry_delay(slot.entry)
            slot.next_attempt_at = self._clocks.wall() + pause
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
                self._fetcher.credential,
                delivered,
            )
        fetch.set_exception(delivered)
        on_error = self._callbacks[1]
        if on_error is not None and isinstance(delivered, TokenRequestError):
            try:
                on_error(delivered)
            except Exception:
                logger.exception("imstoken: on_error callback raised")

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Refuse new background refreshes and wait briefly for the running ones."""
        self.closed = True
        limit = self._fetcher.limits.deadline + self._fetcher.limits.timeout
        for pending in list(self._background):
            try:
                pending.result(timeout=limit)
            except Exception:  # noqa: BLE001, S110 - failures were already logged and delivered
                pass

    async def cancel_tasks(self) -> None:
        """Cancel this provider's background tasks on the running loop and wait for them."""
        import asyncio

        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
