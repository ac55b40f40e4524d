"""The transport's shared watchdog thread: due callbacks run, cancelled ones never do."""

from __future__ import annotations

import threading

from imstoken._http._watchdog import Alarms as _Alarms


def test_a_due_alarm_runs_and_a_cancelled_one_does_not() -> None:
    alarms = _Alarms()
    fired = threading.Event()
    cancelled: list[int] = []
    later = alarms.schedule(0.0, lambda: cancelled.append(1))
    alarms.cancel(later)
    alarms.schedule(0.0, fired.set)  # scheduled after the cancelled one: runs after it would
    assert fired.wait(10)
    assert cancelled == []


def test_alarms_run_in_deadline_order_on_one_thread() -> None:
    alarms = _Alarms()
    order: list[str] = []
    threads: set[str] = set()
    done = threading.Event()

    def note(name: str) -> None:
        order.append(name)
        threads.add(threading.current_thread().name)
        if len(order) == 3:
            done.set()

    alarms.schedule(0.2, lambda: note("third"))
    alarms.schedule(0.0, lambda: note("first"))
    alarms.schedule(0.1, lambda: note("second"))
    assert done.wait(10)
    assert order == ["first", "second", "third"]
    assert threads == {"imstoken-watchdog"}


def test_a_failing_callback_does_not_stop_the_watchdog() -> None:
    alarms = _Alarms()
    fired = threading.Event()

    def boom() -> None:
        raise RuntimeError("x")

    alarms.schedule(0.0, boom)
    alarms.schedule(0.01, fired.set)
    assert fired.wait(10)
