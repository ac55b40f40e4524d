"""Running an I/O-free plan: a generator that yields steps and is sent each step's outcome.

The retry policy and the shared-cache steps are such plans. One driver runs them for both
worlds: ``execute`` does a step (a sync function, or a coroutine function on asyncio) and its
result is sent back into the plan, its exception thrown in (cancellation included), until the
plan returns. The sync driver runs the same coroutine to completion without an event loop:
every step it awaits finishes at once, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

Step = TypeVar("Step")
Result = TypeVar("Result")


async def drive(
    plan: Generator[Step, Any, Result], execute: Callable[[Step], Awaitable[Any]]
) -> Result:
    """Run ``plan`` to its end, awaiting ``execute(step)`` for each step."""
    outcome: tuple[bool, Any] = (True, None)
    while True:
        try:
            step = plan.send(outcome[1]) if outcome[0] else plan.throw(outcome[1])
        except StopIteration as done:
            result: Result = done.value
            return result
        try:
            outcome = (True, await execute(step))
        except BaseException as error:  # noqa: BLE001 - handed to the plan, which re-raises
            outcome = (False, error)


def drive_sync(plan: Generator[Step, Any, Result], execute: Callable[[Step], Any]) -> Result:
    """Run ``plan`` on this thread, calling ``execute(step)`` for each step."""

    async def at_once(step: Step) -> Any:
        return execute(step)

    running = drive(plan, at_once)
    try:
        running.send(None)
    except StopIteration as done:
        result: Result = done.value
        return result
    running.close()
    raise RuntimeError("a sync plan step did not finish at once")  # pragma: no cover
