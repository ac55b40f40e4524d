"""A 401 from an API: when it may replace the credential's token, and when it goes back as it is.

An API that keeps answering 401 (a missing permission, a product profile not yet granted) would
otherwise make every request mint a token, and Adobe throttles integrations that do. The rule,
per credential (its cache key):

- a token that another caller already replaced (in this process, or in the shared cache) is
  used without asking the endpoint;
- otherwise a 401 replaces the token at most once per ``reject_refresh_interval`` in the
  process; with a shared cache, not at all while the shared record still holds the rejected
  token and is younger than the interval (another process of the fleet just fetched it);
- past that the 401 goes back to the caller unchanged, with one WARNING per interval that
  names the API host (never the token).

The state lives on the credential's slot (:mod:`imstoken._slots`), so it is process-wide, is
never dropped because of how many credentials there are while their tokens are usable, and is
fork-safe.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._fetch import Fetcher
    from ._policy import Entry
    from ._refresh import Refresher
    from ._slots import Slot
    from ._token import Token

logger = logging.getLogger("imstoken")

#: Seconds between two 401-driven token replacements of one credential (config
#: ``reject_refresh_interval``); 0 replaces the token on every 401.
DEFAULT_REJECT_REFRESH_INTERVAL = 60.0


class Verdict(enum.Enum):
    """What the shared cache's record says about a rejected token."""

    ADOPT = "adopt"  # it holds another, fresh token: use it, ask nobody
    HOLD = "hold"  # it holds the rejected token, fetched less than the interval ago
    REPLACE = "replace"  # nothing says no: a replacement may be fetched


def shared_verdict(
    loaded: tuple[Token, float] | None, rejected: Token, now: float, interval: float
) -> Verdict:
    """The fleet-wide rule, as a pure function of the shared record ``(token, obtained_at)``."""
    if loaded is None:
        return Verdict.REPLACE
    token, obtained_at = loaded
    if token.access_token != rejected.access_token:
        return Verdict.ADOPT if token.credential == rejected.credential else Verdict.REPLACE
    if 0 <= now - obtained_at < interval:
        return Verdict.HOLD
    return Verdict.REPLACE


class RejectionState:
    """The 401 bookkeeping of one credential in this process."""

    __slots__ = ("lock", "pending", "pid", "replaced_at", "warned_at")

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.replaced_at: float | None = None  # monotonic instant of the last replacement
        self.warned_at: float | None = None
        self.pending: Future[None] | None = None  # the replacement running now, if any

    def claim(self, mono: float, interval: float) -> Future[None] | None:
        """Start a replacement (a future to complete when it ends), or None if too soon."""
        with self.lock:
            if (
                self.replaced_at is not None
                and interval > 0
                and 0 <= mono - self.replaced_at < interval
            ):
                return None
            self.replaced_at = mono
            done: Future[None] = Future()
            done.set_running_or_notify_cancel()  # a waiter that gives up cannot cancel it
            self.pending = done
            return done

    def finish(self, done: Future[None]) -> None:
        """The replacement that ``claim`` started has ended (either way)."""
        with self.lock:
            if self.pending is done:
                self.pending = None
        done.set_result(None)

    def should_warn(self, mono: float, interval: float) -> bool:
        """True once per interval: the caller logs the refused 401."""
        with self.lock:
            if self.warned_at is not None and 0 <= mono - self.warned_at < max(interval, 1e-9):
                return False
            self.warned_at = mono
            return True


def state_for(slot: Slot) -> RejectionState:
    """The 401 state of the slot's credential, shared by every provider of it in the process."""
    with slot.lock:
        state = slot.rejections
        if state is None or state.pid != os.getpid():
            # New, or inherited through fork: a parent thread's lock or pending replacement
            # means nothing here (the timestamps stay true: the monotonic clock is the machine's).
            fresh = RejectionState()
            if state is not None:
                fresh.replaced_at, fresh.warned_at = state.replaced_at, state.warned_at
            state = slot.rejections = fresh
        return state


class RejectionGuard:
    """Replaces a provider's token after an API's 401, within the rule above."""

    def __init__(self, slot: Slot, refresher: Refresher, fetcher: Fetcher, interval: float) -> None:
        self._slot = slot
        self._refresher = refresher
        self._fetcher = fetcher
        self.interval = interval

    @property
    def _state(self) -> RejectionState:
        return state_for(self._slot)  # looked up each time: a forked child gets its own

    # ------------------------------------------------------------------ deciding (no I/O)

    def _replaced_already(self, rejected: Token) -> bool:
        """Whether the refresher would answer without a new fetch of ours: another token is
        in memory, or a fetch is already running."""
        slot = self._slot
        if slot.inflight is not None:
            return True
        entry = slot.entry
        clocks = self._fetcher.clocks
        return (
            entry is not None
            and entry.token.access_token != rejected.access_token
            and entry.is_usable(clocks.wall(), clocks.monotonic())
        )

    def _adopt(self, loaded: tuple[Token, float] | None, rejected: Token) -> Entry | None:
        """Put the shared cache's newer token in memory, if it is fresh."""
        if loaded is None:
            return None
        token, obtained_at = loaded
        clocks = self._fetcher.clocks
        now = clocks.wall()
        entry = self._fetcher.make_entry(token, min(obtained_at, now))
        if not entry.is_fresh(now, clocks.monotonic()):
            return None
        slot = self._slot
        with slot.lock:
            current = slot.entry
            if current is None or current.token.access_token == rejected.access_token:
                slot.entry = entry
        return entry

    def _settle(
        self, loaded: tuple[Token, float] | None, rejected: Token, host: str | None
    ) -> tuple[bool, Entry | None]:
        """What the shared record settles: ``(True, entry)`` to use its newer token,
        ``(True, None)`` to hand the 401 back, ``(False, None)`` when it settles nothing."""
        verdict = shared_verdict(loaded, rejected, self._fetcher.clocks.wall(), self.interval)
        if verdict is Verdict.ADOPT:
            adopted = self._adopt(loaded, rejected)
            return adopted is not None, adopted
        if verdict is Verdict.HOLD:
            self._refuse(self._state, host, fleet=True)
            return True, None
        return False, None

    def _refuse(self, state: RejectionState, host: str | None, *, fleet: bool = False) -> None:
        if state.should_warn(self._fetcher.clocks.monotonic(), self.interval):
            why = (
                "the token in the shared cache was fetched"
                if fleet
                else "it was already replaced because of a 401"
            )
            logger.warning(
                "imstoken: %s answered 401 to the %s token; %s less than %.0f s ago "
                "(reject_refresh_interval), so the 401 goes back to the caller and no new "
                "token is requested",
                host or "an API",
                self._fetcher.credential,
                why,
                self.interval,
            )

    # ------------------------------------------------------------------ sync

    def replace_sync(self, rejected: Token, host: str | None = None) -> Entry | None:
        """A token to send again instead of ``rejected``, or None: hand the 401 back."""
        if self._replaced_already(rejected):
            return self._refresher.entry_sync(False, rejected)
        if self._fetcher.shared is not None and self.interval > 0:
            settled, entry = self._settle(self._fetcher.load_shared(), rejected, host)
            if settled:
                return entry
        state = self._state
        done = state.claim(self._fetcher.clocks.monotonic(), self.interval)
        if done is None:
            running = state.pending
            if running is not None:  # another caller's replacement: wait for its token
                try:
                    running.result(timeout=self._refresher.wait_limit())
                except FutureTimeout:
                    pass
            if self._replaced_already(rejected):
                return self._refresher.entry_sync(False, rejected)
            self._refuse(state, host)
            return None
        try:
            return self._refresher.entry_sync(False, rejected)
        finally:
            state.finish(done)

    # ------------------------------------------------------------------ async

    async def replace_async(self, rejected: Token, host: str | None = None) -> Entry | None:
        """The asyncio twin of :meth:`replace_sync`; never blocks the event loop."""
        import asyncio

        if self._replaced_already(rejected):
            return await self._refresher.entry_async(False, rejected)
        if self._fetcher.shared is not None and self.interval > 0:
            loaded = await asyncio.to_thread(self._fetcher.load_shared)
            settled, entry = self._settle(loaded, rejected, host)
            if settled:
                return entry
        state = self._state
        done = state.claim(self._fetcher.clocks.monotonic(), self.interval)
        if done is None:
            running = state.pending
            if running is not None:
                try:
                    async with asyncio.timeout(self._refresher.wait_limit()):
                        await asyncio.wrap_future(running)
                except TimeoutError:
                    pass
            if self._replaced_already(rejected):
                return await self._refresher.entry_async(False, rejected)
            self._refuse(state, host)
            return None
        try:
            return await self._refresher.entry_async(False, rejected)
        finally:
            state.finish(done)
