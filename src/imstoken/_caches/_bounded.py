"""Shared-cache calls with a time limit: a call that overruns is abandoned, never waited on again.

A shared cache's own timeouts bound each socket read, not a call: a Redis answering every reply
just under its socket timeout makes one call (connect handshake included) last several times
that timeout. So every shared-cache call of a fetch runs on a small process-owned thread pool,
and the caller waits for it only as long as its budget allows (``future.result(timeout)``, or
``asyncio.wait_for`` around the hand-off). A call that overran is abandoned: nobody waits for it
again, and if it later hands back something that must be undone (a lock it took), ``undo`` runs
on the pool when it completes.

The pool's threads are not daemons: a process that exits waits for a running call to end (a
cache call is bounded by its store's own timeouts), so no imstoken thread is inside a socket or
a lock file while the interpreter finalizes. After a ``fork`` the child gets a pool of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

#: Enough for many credentials waiting on locks at once; threads are made only when needed.
MAX_WORKERS = 32

_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """This process's pool (a forked child never uses its parent's, whose threads it lacks)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            executor = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="imstoken-cache")
            _pool = (os.getpid(), executor)
        return _pool[1]


def submit(function: Callable[..., Any], *args: Any) -> Future[Any]:
    """Start ``function(*args)`` on the pool, in the caller's context (contextvars copied).

    At interpreter shutdown, when the pool takes no more work, the call is made here and now.
    """
    context = contextvars.copy_context()
    try:
        return _executor().submit(context.run, function, *args)
    except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
        future: Future[Any] = Future()
        try:
            future.set_result(context.run(function, *args))
        except BaseException as error:  # noqa: BLE001 - handed over like the pool would
            future.set_exception(error)
        return future


def abandon(future: Future[Any], undo: Callable[[Any], None] | None = None) -> None:
    """Stop waiting for ``future``: cancel it if it has not started, else let it finish alone.

    ``undo(result)`` runs on the pool once it completes with a result that is not None (the
    lock handle of an ``acquire`` that succeeded too late), so it blocks no caller.
    """
    if future.cancel() or undo is None:
        return

    def completed(done: Future[Any]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        result = done.result()
        if result is not None:
            submit(undo, result)

    future.add_done_callback(completed)


def wait_sync(future: Future[Any], within: float | None) -> tuple[bool, Any]:
    """``(True, result)`` if ``future`` finished within ``within`` seconds, else ``(False, None)``.

    ``within`` None waits for ever; 0 or less does not wait at all.
    """
    if within is not None and within <= 0 and not future.done():
        return False, None
    try:
        return True, future.result(timeout=within)
    except TimeoutError:
        return False, None


async def wait_async(future: Future[Any], within: float | None) -> tuple[bool, Any]:
    """:func:`wait_sync` for asyncio: the event loop keeps running while the call does."""
    if within is not None and within <= 0 and not future.done():
        return False, None
    try:
        return True, await asyncio.wait_for(asyncio.wrap_future(future), within)
    except TimeoutError:
        return False, None
