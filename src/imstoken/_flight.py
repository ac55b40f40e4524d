"""A fetch in flight, and who owns it.

A fetch belongs to the process, not to the caller that started it. Its *owner* is what runs it:
a thread (a sync leader runs the fetch on its own thread), an event loop (an async leader runs it
as a task of its own on its loop), or the process itself (the refresh pool). Waiters wait on the
flight, never on the caller. When the owner goes away before the flight ends (its task was
cancelled, its loop was closed or stopped running, its thread was interrupted) the flight is
*abandoned*: its waiters look at the slot again and one of them takes the fetch over. A late
result from an owner that was replaced is dropped (the replacing flight's result wins).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._caches import LockHandle, SharedCache
from ._policy import Entry
from ._token import Token

if TYPE_CHECKING:
    import asyncio


# How often a waiter checks that the owner of the fetch it waits for is still there: soon, then
# every tenth of a second. Only a closed or idle loop needs these looks (a cancelled or
# interrupted owner ends its flight by itself, which wakes its waiters at once).
FIRST_LOOK, LAST_LOOK = 0.005, 0.1


class Abandoned(Exception):  # a signal between waiters, never raised to callers
    """The flight's owner went away before it ended: look at the slot again."""


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any (sync code called from a coroutine)."""
    module = sys.modules.get("asyncio")
    if module is None:  # never imported: no loop can be running
        return None
    try:
        loop: asyncio.AbstractEventLoop = module.get_running_loop()
    except RuntimeError:
        return None
    return loop


class Flight(Future[Entry]):
    """One fetch in flight: a running future (waiters cannot cancel it) and its owner."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        thread: threading.Thread | None = None,
    ) -> None:
        super().__init__()
        self.set_running_or_notify_cancel()  # a running future cannot be cancelled by a waiter
        self.loop = loop
        self.thread = thread
        self.task: asyncio.Task[None] | None = None
        self._held_lock = threading.Lock()
        self._held: list[Callable[[], None]] = []
        self._stopped = False

    @property
    def has_owner(self) -> bool:
        """Whether a loop or a thread owns it (which could vanish), not the process."""
        return self.loop is not None or self.thread is not None

    def owner_gone(self) -> bool:
        """Whether nothing is left to finish this flight: its loop is closed or idle, or its
        thread has ended. A process-owned flight (the refresh pool) is never gone."""
        if self.done():
            return False
        loop = self.loop
        if loop is not None:
            return loop.is_closed() or not loop.is_running()
        thread = self.thread
        return thread is not None and not thread.is_alive()

    def blocks_its_owner(self) -> bool:
        """Whether a sync wait here would block the very loop that runs this flight."""
        return self.loop is not None and not self.done() and self.loop is running_loop()

    def abandon(self) -> bool:
        """End the flight without a result, so its waiters take over; False if already ended."""
        try:
            self.set_exception(Abandoned())
        except Exception:  # noqa: BLE001 - InvalidStateError: it had already ended
            return False
        return True

    def hold(self, release: Callable[[], None]) -> None:
        """Note a shared-cache lock this flight's owner holds (``release`` lets go of it)."""
        with self._held_lock:
            stopped = self._stopped
            if not stopped:
                self._held.append(release)
        if stopped:  # taken after the flight was replaced (a closed loop's worker thread)
            release()

    def stop_owner(self) -> None:
        """Best effort, once the flight is replaced: stop the old owner's task (so it sends no
        needless request) and let go of the shared-cache locks it holds (a closed loop never
        runs the code that would, and the replacing fetch must not wait out the lock)."""
        with self._held_lock:
            held, self._held, self._stopped = self._held, [], True
        for release in held:
            release()
        task, loop = self.task, self.loop
        if task is None or loop is None or task.done():
            return
        if loop is running_loop():
            task.cancel()
        elif not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)  # runs if the loop ever runs again
            except RuntimeError:
                pass  # closed meanwhile


#: The flight whose fetch the current asyncio task runs (copied into ``asyncio.to_thread``).
current_flight: ContextVar[Flight | None] = ContextVar("imstoken_flight", default=None)


class LockLedger:
    """A shared cache whose refresh locks are each released once, by their fetch or for it.

    When a fetch's owner is gone (its loop closed mid-fetch), the flight that replaces it
    releases the locks the dead fetch took, so the new fetch does not wait out the lock, and
    a late release by the dead fetch (its coroutine closed by the garbage collector, say) is
    then a no-op instead of a second unlock.
    """

    def __init__(self, shared: SharedCache) -> None:
        self.inner = shared
        self._lock = threading.Lock()
        self._held: dict[int, LockHandle] = {}

    def load(self, key: str) -> tuple[Token, float] | None:
        """As :meth:`SharedCache.load`."""
        return self.inner.load(key)

    def store(self, key: str, token: Token, obtained_at: float) -> None:
        """As :meth:`SharedCache.store`."""
        self.inner.store(key, token, obtained_at)

    def delete(self, key: str) -> None:
        """As :meth:`SharedCache.delete`."""
        self.inner.delete(key)

    def acquire(self, key: str, ttl: float, wait: float) -> LockHandle | None:
        """As :meth:`SharedCache.acquire`; the lock is noted on the flight that took it."""
        handle = self.inner.acquire(key, ttl, wait)
        if handle is None:
            return None
        with self._lock:
            self._held[id(handle)] = handle
        flight = current_flight.get()
        if flight is not None:
            flight.hold(lambda: self.release(handle))
        return handle

    def release(self, handle: LockHandle) -> None:
        """As :meth:`SharedCache.release`, once per lock whoever asks."""
        with self._lock:
            if self._held.get(id(handle)) is not handle:
                return
            del self._held[id(handle)]
        self.inner.release(handle)

    def close(self) -> None:
        """As :meth:`SharedCache.close`."""
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Whatever else the cache offers (its path, its breaker) is the cache's own.
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return repr(self.inner)


def new_flight(on_loop: bool, *, background: bool) -> Flight:
    """A flight owned by the running loop, the process (a background refresh on the pool) or
    the calling thread."""
    if on_loop:
        return Flight(loop=running_loop())
    if background:
        return Flight()
    return Flight(thread=threading.current_thread())


def as_flight(future: Future[Entry]) -> Flight:
    """``future`` as the Flight it is: every in-flight future is made by :func:`new_flight`."""
    assert isinstance(future, Flight)
    return future
