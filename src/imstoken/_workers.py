"""The process-wide pool of threads that run background refreshes for sync callers."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def refresh_executor() -> ThreadPoolExecutor:
    """The pool, started on first use with one worker already waiting.

    Handing work to a live thread costs microseconds; starting one can cost milliseconds.
    """
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="imstoken-refresh")
                # Start a worker now, so the first stale-window refresh only hands work over.
                _executor.submit(int)
    return _executor


def _after_fork_in_child() -> None:
    # The child has none of the parent's threads: it starts a pool of its own when needed.
    global _lock, _executor
    _lock = threading.Lock()
    _executor = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
