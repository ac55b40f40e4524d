"""Single flight: who serves, who fetches and who waits, for one cache key of the process.

The decision is made under the slot's lock (never held across I/O) and named: serve the cached
token, serve it and refresh in the background, lead the one fetch, or wait for it. The fetch
itself is a :class:`~imstoken._fetch.Fetcher`'s business; who owns it is a
:class:`~imstoken._flight.Flight`'s (a fetch belongs to the process, not to its caller).
"""

from __future__ import annotations

import copy
import enum
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _metrics as metrics
from . import _workers
from ._errors import ImsTokenError, TokenRequestError, TokenRequestRefused, TokenRequestTimedOut
from ._fetch import Fetcher
from ._flight import FIRST_LOOK, LAST_LOOK, Abandoned, Flight, as_flight, current_flight, new_flight
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
    fetch: Flight | None = None


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

    def decide(self, force: bool, rejected: Token | None, *, on_loop: bool = False) -> Decision:
        """Look at the slot (under its lock) and say what this caller does.

        ``on_loop``: the caller is a coroutine, so a fetch it starts is a task of its running
        loop; a sync caller's fetch runs on its own thread (a background refresh: on the pool).
        A flight whose owner is gone is never waited for but replaced, and so is one that a
        sync caller would wait for on the very loop that has to run it.
        """
        slot = self.slot
        replaced: Flight | None = None
        with slot.lock:
            now = self._clocks.wall()
            mono = self._clocks.monotonic()
            current = slot.inflight
            if isinstance(current, Flight) and current.owner_gone():
                replaced, slot.inflight = current, None
            entry = slot.entry
            if (
                entry is not None
                and not force
                and entry.is_usable(now, mono)
                and (rejected is None or entry.token.access_token != rejected.access_token)
            ):
                decision = Decision(Action.SERVE, entry)
                if entry.is_fresh(now, mono):
                    pass
                elif slot.inflight is None and now >= slot.next_attempt_at and not self.closed:
                    slot.inflight = flight = new_flight(on_loop, background=True)
                    decision = Decision(Action.SERVE_AND_REFRESH, entry, flight)
            else:
                if (
                    rejected is not None
                    and entry is not None
                    and entry.token.access_token == rejected.access_token
                ):
                    slot.entry = None  # never hand the rejected token out again
                    metrics.rejected_refresh(rejected.credential)
                current = slot.inflight
                if isinstance(current, Flight) and not on_loop and current.blocks_its_owner():
                    replaced, slot.inflight = current, None  # waiting would wedge its loop
                refused = None if force else slot.refused
                if slot.inflight is None and refused is not None and mono < refused[1]:
                    decision = Decision(Action.WAIT, None, refused[0])  # no request: same answer
                elif slot.inflight is None:
                    slot.inflight = flight = new_flight(on_loop, background=False)
                    decision = Decision(Action.LEAD, None, flight)
                else:
                    decision = Decision(Action.WAIT, None, as_flight(slot.inflight))
        if replaced is not None:
            replaced.abandon()  # its waiters look again, and find the new flight
            replaced.stop_owner()
        return decision

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
            slot.entry = slot.refused = None
            slot.next_attempt_at = 0.0
        self._fetcher.delete_shared()

    # ------------------------------------------------------------------ sync path

    def entry_sync(self, force: bool, rejected: Token | None) -> Entry:
        """A usable entry for a sync caller; fetches (or waits for the fetch) if needed."""
        give_up_at = 0.0
        while True:
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
                avoid = rejected.access_token if rejected is not None else None
                self._run_sync(fetch, force or avoid is not None, background=False, avoid=avoid)
            if not give_up_at:
                give_up_at = time.monotonic() + self.wait_limit()
            try:
                return self._wait_sync(fetch, give_up_at)
            except Abandoned:
                continue  # its owner went away: look again (and maybe take the fetch over)

    @staticmethod
    def _wait_sync(fetch: Flight, give_up_at: float) -> Entry:
        look = FIRST_LOOK if fetch.has_owner else float("inf")
        while not fetch.done():
            remaining = give_up_at - time.monotonic()
            if remaining <= 0:
                raise _waited_too_long()
            futures_wait((fetch,), timeout=min(look, remaining))
            if not fetch.done() and fetch.owner_gone():
                raise Abandoned
            look = min(look * 2, LAST_LOOK)
        try:
            return fetch.result()
        except ImsTokenError as error:
            raise _clone(error) from None

    def _start_background_thread(self, fetch: Flight, force: bool) -> None:
        try:
            done = _workers.refresh_executor().submit(self._run_sync, fetch, force, background=True)
        except RuntimeError as error:  # the interpreter is shutting down: no new threads
            self._finish_failure(fetch, error, background=True)
            return
        self._background.add(done)
        done.add_done_callback(self._background.discard)

    def _run_sync(
        self, fetch: Flight, force: bool, *, background: bool, avoid: str | None = None
    ) -> None:
        started = self._clocks.wall()
        try:
            entry = self._fetcher.fetch_sync(force, started, avoid)
        except BaseException as error:
            self._finish_failure(fetch, error, background=background)
            if not isinstance(error, Exception):
                raise
            return
        self._finish_success(fetch, entry)

    # ------------------------------------------------------------------ async path

    async def entry_async(self, force: bool, rejected: Token | None) -> Entry:
        """The asyncio twin of :meth:`entry_sync`; never blocks the event loop."""
        give_up_at = 0.0
        while True:
            decision = self.decide(force, rejected, on_loop=True)
            fetch = decision.fetch
            if decision.action is Action.SERVE_AND_REFRESH:
                assert fetch is not None and decision.entry is not None
                self._spawn(fetch, self._run_async(fetch, force, background=True))
                return decision.entry
            if decision.entry is not None:
                return decision.entry
            assert fetch is not None
            if decision.action is Action.LEAD:
                # A task of its own: a cancelled caller must not abandon the others' fetch.
                avoid = rejected.access_token if rejected is not None else None
                forced = force or avoid is not None
                self._spawn(fetch, self._run_async(fetch, forced, background=False, avoid=avoid))
                give_up_at = time.monotonic() + self.wait_limit()
            elif not give_up_at:
                give_up_at = time.monotonic() + self.wait_limit()
            try:
                return await self._wait_async(fetch, give_up_at)
            except Abandoned:
                continue

    @staticmethod
    async def _wait_async(fetch: Flight, give_up_at: float) -> Entry:
        import asyncio

        # A flight of this very loop cannot lose its owner while this coroutine runs on it.
        watched = fetch.has_owner and fetch.loop is not asyncio.get_running_loop()
        look = FIRST_LOOK if watched else float("inf")
        waiting = asyncio.wrap_future(fetch)
        try:
            while not waiting.done():
                remaining = give_up_at - time.monotonic()
                if remaining <= 0:
                    raise _waited_too_long()
                await asyncio.wait((waiting,), timeout=min(look, remaining))
                if not waiting.done() and fetch.owner_gone():
                    raise Abandoned
                look = min(look * 2, LAST_LOOK)
            return waiting.result()
        except ImsTokenError as error:
            raise _clone(error) from None
        finally:
            # This waiter's view only: the fetch is a running future, which cannot be cancelled.
            waiting.cancel()

    def _spawn(self, fetch: Flight, coroutine: Coroutine[Any, Any, None]) -> None:
        import asyncio

        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # A task cancelled before it ever ran never reaches _run_async's handler.
        task.add_done_callback(lambda _: self._abandon(fetch))
        fetch.task = task

    async def _run_async(
        self, fetch: Flight, force: bool, *, background: bool, avoid: str | None = None
    ) -> None:
        started = self._clocks.wall()
        current_flight.set(fetch)  # this task's context: locks taken for it are noted on it
        try:
            entry = await self._fetcher.fetch_async(force, started, avoid)
        except BaseException as error:
            self._finish_failure(fetch, error, background=background)
            if isinstance(error, Exception):
                return
            raise
        self._finish_success(fetch, entry)

    # ------------------------------------------------------------------ endings

    def _abandon(self, fetch: Flight) -> None:
        """The fetch's owner went away (cancelled, interrupted, closed): no result, no error;
        its waiters look at the slot again and one of them takes the fetch over."""
        slot = self.slot
        with slot.lock:
            if slot.inflight is fetch:
                slot.inflight = None
        fetch.abandon()

    def _finish_success(self, fetch: Flight, entry: Entry) -> None:
        slot = self.slot
        with slot.lock:
            current = slot.inflight is fetch
            if current:
                slot.entry = entry  # a fetched token is the newest by construction
                slot.inflight = slot.refused = None
                slot.next_attempt_at = 0.0
        if not current:
            # Replaced after its owner was given up for gone: the replacing fetch's result wins.
            fetch.abandon()
            return
        remember(slot, self._clocks.wall)  # a sweep may have dropped the slot while it was empty
        fetch.set_result(entry)
        _workers.refresh_executor()  # warm the pool off the hot path, while a fetch just ran
        on_token = self._callbacks[0]
        if on_token is not None:
            try:
                on_token(entry.token)
            except Exception:
                logger.exception("imstoken: on_token callback raised")

    def _finish_failure(self, fetch: Flight, error: BaseException, *, background: bool) -> None:
        if not isinstance(error, Exception):  # cancelled, interrupted or closed mid-fetch
            self._abandon(fetch)
            return
        slot = self.slot
        with slot.lock:
            current = slot.inflight is fetch
            if current:
                slot.inflight = None
                # Space refresh attempts while a valid token exists; never loop on a failing IMS.
                pause = self._fetcher.policy.retry_delay(slot.entry)
                slot.next_attempt_at = self._clocks.wall() + pause
                refused = isinstance(error, TokenRequestRefused) and not error.retryable
                if refused and not background:  # no token: this refusal again, not a request each
                    until = self._clocks.monotonic() + self._fetcher.policy.refresh_retry_delay
                    slot.refused = (fetch, until)
        if not current:
            fetch.abandon()  # replaced: its waiters already moved on to the new fetch
            return
        if isinstance(error, ImsTokenError):
            delivered: BaseException = error
        else:
            delivered = TokenRequestError(
                f"token request failed unexpectedly ({type(error).__name__})", retryable=False
            )
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
