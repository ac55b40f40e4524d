"""Deadline enforcement for sync attempts: one timer thread cuts the socket of a late attempt.

httpx's timeouts apply to each socket operation; a server that trickles its answer a byte at a
time never trips them, and a blocking read cannot be cancelled from its own thread.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

_NEW_CONNECTION_EVENTS = frozenset(
    {
        "connection.connect_tcp.complete",
        "connection.connect_unix_socket.complete",
        "connection.start_tls.complete",
    }
)


class Alarms:
    """One daemon thread that runs due callbacks: a watchdog per attempt without a thread per
    attempt (starting a thread costs up to milliseconds on a busy machine, on every fetch)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[list[Any]] = []
        self._order = itertools.count()
        self._pid = -1
        self._thread: threading.Thread | None = None
        self._stopping = False
        atexit.register(self.stop)

    def _ensure_thread(self) -> None:
        # Called with the condition held. A forked child has no thread: start its own.
        if self._pid != os.getpid() and not self._stopping:
            self._pid = os.getpid()
            self._heap.clear()
            self._thread = threading.Thread(target=self._run, name="imstoken-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the thread and wait for it (at exit: no imstoken thread may still be cutting a
        socket while the interpreter finalizes). Attempts that start later have no watchdog."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def start(self) -> None:
        """Start the thread ahead of the first request."""
        if self._pid == os.getpid():
            return  # started in this process already (or stopping): no lock for every provider
        with self._cond:
            self._ensure_thread()

    def schedule(self, delay: float, callback: Callable[[], None]) -> list[Any]:
        """Run ``callback`` in ``delay`` seconds unless cancelled; returns the handle."""
        entry = [time.monotonic() + delay, next(self._order), callback]
        with self._cond:
            self._ensure_thread()
            heapq.heappush(self._heap, entry)
            self._cond.notify()
        return entry

    @staticmethod
    def cancel(entry: list[Any]) -> None:
        """Forget a scheduled callback (it is dropped when its time comes)."""
        entry[2] = None

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                while self._heap and self._heap[0][2] is None:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                callback = heapq.heappop(self._heap)[2]
                if callback is None:
                    continue
                self._cond.release()
                try:
                    callback()
                except Exception:  # noqa: BLE001, S110 - a watchdog must never die
                    pass
                finally:
                    self._cond.acquire()


_alarms = Alarms()


class Watchdog:
    """Cuts the connection of one sync attempt when its budget runs out.

    httpx's timeouts apply to each socket operation: a server that trickles its status line and
    headers a byte at a time never trips them, and a blocking read cannot be cancelled. Shutting
    the socket down from a timer thread ends that read at once. The socket comes from httpcore's
    ``trace`` extension when the connection is made (a reused keep-alive connection of a client
    the caller passed in is not seen: it keeps the per-read timeouts only).
    """

    def __init__(self, budget: float) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.fired = False
        self._budget = budget
        self._alarm: list[Any] | None = None

    def __enter__(self) -> Watchdog:
        self._alarm = _alarms.schedule(self._budget, self._fire)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._alarm is not None:
            _alarms.cancel(self._alarm)

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event not in _NEW_CONNECTION_EVENTS:
            return
        try:
            stream = info.get("return_value")
            found = stream.get_extra_info("socket") if stream is not None else None
        except Exception:  # noqa: BLE001 - a transport without sockets: nothing to watch
            return
        if not isinstance(found, socket.socket):
            return
        with self._lock:
            self._socket = found
            fired = self.fired
        if fired:
            self._shutdown(found)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            found = self._socket
        self._shutdown(found)

    @staticmethod
    def _shutdown(found: socket.socket | None) -> None:
        if found is not None:
            try:
                found.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the attempt ended by itself




def start_watchdog_thread() -> None:
    """Start the process's watchdog thread ahead of the first request."""
    _alarms.start()
