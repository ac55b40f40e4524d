"""A fetch belongs to the process, not to whoever started it (issue 11, A.1-A.3).

Every case starts a fetch on an event loop (or a thread) while the local IMS holds its answer,
makes another caller wait for that fetch, then takes the first owner away: its caller is
cancelled and the loop ends (``asyncio.run`` after a ``wait_for`` timeout), the loop is closed,
the loop simply stops running, or the other caller is a sync call on the owner loop's thread.
The other caller must get a token (from a fetch it takes over), and later callers, new
providers, ``force_refresh`` and ``invalidate()`` must reach IMS again. No case sleeps to
order events: the IMS request count, ``asyncio.sleep(0)`` (a new task runs up to its wait) and
the waiting thread's stack say where each caller is.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest

import imstoken
from imstoken import Token, TokenProvider
from imstoken.testing import Credential, LocalIMS

from .conftest import FakeClock

LIMITS = {"timeout": 1.0, "deadline": 2.0}  # so a wedged waiter on main gives up in ~4 s


def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.001)


async def async_wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.001)


def blocked_waiting(thread: threading.Thread) -> bool:
    """Whether ``thread`` is parked in a wait under ``entry_sync`` (waiting for a fetch)."""
    frame = sys._current_frames().get(thread.ident or -1)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return bool(names) and names[0] == "wait" and "entry_sync" in names


@pytest.fixture
def provider(cred: Credential) -> Iterator[TokenProvider]:
    made = imstoken.from_config(cred.config("oauth", **LIMITS))
    yield made
    made.close()


class Outcome:
    """What a caller in another thread got: a token or an exception."""

    def __init__(self) -> None:
        self.future: Future[Token] = Future()
        self.thread: threading.Thread | None = None

    def run(self, call: Callable[[], Token]) -> None:
        try:
            self.future.set_result(call())
        except BaseException as error:  # reported through the future
            self.future.set_exception(error)

    def token(self) -> Token:
        return self.future.result(timeout=30)


def sync_waiter(provider: TokenProvider) -> Outcome:
    """A sync caller in a thread of its own, returned once it waits for the fetch in flight."""
    outcome = Outcome()
    thread = threading.Thread(target=outcome.run, args=(provider.get_token,))
    outcome.thread = thread
    thread.start()
    wait_until(lambda: blocked_waiting(thread))
    return outcome


def async_waiter(provider: TokenProvider) -> Outcome:
    """An asyncio caller on a loop (and thread) of its own, returned once it waits."""
    outcome = Outcome()
    waiting = threading.Event()

    async def main() -> Token:
        task = asyncio.create_task(provider.aget_token())
        await asyncio.sleep(0)  # the task decides (wait) and parks in its wait
        waiting.set()
        return await task

    thread = threading.Thread(target=outcome.run, args=(lambda: asyncio.run(main()),))
    outcome.thread = thread
    thread.start()
    assert waiting.wait(10)
    return outcome


async def lead_fetch(provider: TokenProvider, ims: LocalIMS) -> asyncio.Task[Token]:
    """Start the fetch as an asyncio caller; returns once IMS has the (held) request."""
    task = asyncio.create_task(provider.aget_token())
    await async_wait_until(lambda: ims.count() == 1)
    return task


WAITERS = {"sync thread": sync_waiter, "other loop": async_waiter}


# ---------------------------------------------------------------- A.1 cancelled leader


@pytest.mark.parametrize("make_waiter", WAITERS.values(), ids=WAITERS.keys())
def test_a_leader_whose_loop_ends_after_a_timeout_leaves_waiters_a_token(
    ims: LocalIMS, provider: TokenProvider, make_waiter: Callable[[TokenProvider], Outcome]
) -> None:
    ims.pause()
    waiter: list[Outcome] = []

    async def leader() -> None:
        task = await lead_fetch(provider, ims)
        waiter.append(make_waiter(provider))
        # As asyncio.wait_for(aget_token(), 0.4) timing out: the caller is cancelled, then
        # asyncio.run ends and cancels every task left on its loop, the fetch's included.
        task.cancel()

    asyncio.run(leader())
    ims.resume()
    token = waiter[0].token()
    assert provider.get_token() is token
    assert ims.count() == 2  # the waiter took the fetch over


def test_a_cancelled_leader_on_a_running_loop_still_serves_its_waiters(
    ims: LocalIMS, provider: TokenProvider
) -> None:
    async def main() -> tuple[Token, Token]:
        ims.pause()
        leader = await lead_fetch(provider, ims)
        waiter = asyncio.create_task(provider.aget_token())
        await asyncio.sleep(0)
        leader.cancel()  # the caller gives up; the fetch is not its to cancel
        other = async_waiter(provider)
        ims.resume()
        token = await waiter
        with pytest.raises(asyncio.CancelledError):
            await leader
        return token, other.token()

    mine, other = asyncio.run(main())
    assert mine is other
    assert ims.count() == 1


def test_a_cancelled_waiter_never_cancels_the_fetch(ims: LocalIMS, provider: TokenProvider) -> None:
    async def main() -> Token:
        ims.pause()
        leader = await lead_fetch(provider, ims)
        waiters = [asyncio.create_task(provider.aget_token()) for _ in range(3)]
        await asyncio.sleep(0)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        ims.resume()
        return await leader

    token = asyncio.run(main())
    assert provider.get_token() is token
    assert ims.count() == 1


def test_an_interrupted_sync_leader_leaves_its_waiters_a_token(
    ims: LocalIMS, cred: Credential
) -> None:
    held = threading.Event()
    release = threading.Event()

    def interrupted(request: httpx.Request) -> httpx.Response:
        held.set()
        release.wait(10)
        raise KeyboardInterrupt

    config = cred.config("oauth", **LIMITS)
    client = httpx.Client(transport=httpx.MockTransport(interrupted))
    doomed = imstoken.from_config(config, http_client=client)
    healthy = imstoken.from_config(config)  # the same credential: the same slot
    leader = Outcome()
    thread = threading.Thread(target=leader.run, args=(doomed.get_token,))
    thread.start()
    assert held.wait(10)
    waiter = sync_waiter(healthy)
    release.set()
    with pytest.raises(KeyboardInterrupt):
        leader.token()
    assert waiter.token().access_token
    assert ims.count() == 1  # only the waiter's fetch reached IMS
    healthy.close()


# ---------------------------------------------------------------- A.2 closed or idle loop


def closed_loop_fetch(provider: TokenProvider, ims: LocalIMS, *, close: bool = True) -> None:
    """``loop.run_until_complete(asyncio.wait_for(...))`` that times out, then ``loop.close()``
    (or not: the loop is left idle)."""
    ims.pause()
    loop = asyncio.new_event_loop()

    async def impatient() -> None:
        task = await lead_fetch(provider, ims)
        task.cancel()  # the caller's wait_for gave up

    loop.run_until_complete(impatient())
    if close:
        loop.close()
    else:
        LEFT_IDLE.append(loop)
    ims.resume()


LEFT_IDLE: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(autouse=True)
def _close_idle_loops() -> Iterator[None]:
    yield
    while LEFT_IDLE:
        LEFT_IDLE.pop().close()


@pytest.mark.parametrize("close", [True, False], ids=["closed loop", "idle loop"])
@pytest.mark.parametrize("make_waiter", WAITERS.values(), ids=WAITERS.keys())
def test_a_waiter_takes_over_a_fetch_whose_loop_stopped(
    ims: LocalIMS,
    provider: TokenProvider,
    make_waiter: Callable[[TokenProvider], Outcome],
    close: bool,
) -> None:
    ims.pause()
    loop = asyncio.new_event_loop()
    waiter: list[Outcome] = []

    async def impatient() -> None:
        task = await lead_fetch(provider, ims)
        waiter.append(make_waiter(provider))
        task.cancel()

    loop.run_until_complete(impatient())  # returns: the loop no longer runs the fetch
    if close:
        loop.close()
    else:
        LEFT_IDLE.append(loop)
    ims.resume()
    assert waiter[0].token().access_token
    assert ims.count() == 2


CALLS: dict[str, Callable[[TokenProvider], Any]] = {
    "get_token": lambda provider: provider.get_token(),
    "aget_token": lambda provider: asyncio.run(provider.aget_token()),
    "headers": lambda provider: provider.headers(),
    "force_refresh": lambda provider: provider.get_token(force_refresh=True),
    "async force_refresh": lambda provider: asyncio.run(provider.aget_token(force_refresh=True)),
    "invalidate": lambda provider: (provider.invalidate(), provider.get_token()),
}


@pytest.mark.parametrize("close", [True, False], ids=["closed loop", "idle loop"])
@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_after_a_dead_loop_every_call_reaches_ims_again(
    ims: LocalIMS, provider: TokenProvider, cred: Credential, call: Callable[..., Any], close: bool
) -> None:
    closed_loop_fetch(provider, ims, close=close)
    fresh = imstoken.from_config(cred.config("oauth", **LIMITS))  # a new provider, same slot
    assert call(fresh)
    assert ims.count() == 2
    assert call(provider)  # and the old provider is not wedged either
    fresh.close()


def test_a_closed_loop_mid_fetch_lets_go_of_the_file_cache_lock(
    ims: LocalIMS, cred: Credential, tmp_path: Path
) -> None:
    config = cred.config("oauth", cache="file", cache_path=str(tmp_path), **LIMITS)
    provider = imstoken.from_config(config)
    closed_loop_fetch(provider, ims)
    other = imstoken.from_config(config)
    assert other.get_token(force_refresh=True).access_token
    for lock_file in tmp_path.glob("*.lock"):
        fd = os.open(lock_file, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if still held
        finally:
            os.close(fd)
    provider.close()
    other.close()


# ---------------------------------------------------------------- A.3 sync call on the loop


def test_a_sync_call_on_the_loop_that_owns_the_fetch_takes_it_over(
    ims: LocalIMS, provider: TokenProvider
) -> None:
    async def main() -> tuple[dict[str, str], Token]:
        ims.pause()
        fetch = await lead_fetch(provider, ims)
        ims.resume()
        headers = provider.headers()  # blocks this loop: waiting for its own fetch would wedge
        return headers, await fetch

    headers, token = asyncio.run(main())
    assert headers["Authorization"] == f"Bearer {provider.get_token().access_token}"
    assert token.access_token
    assert ims.count() == 2


def test_a_sync_call_on_another_loop_thread_waits_for_the_owner(
    ims: LocalIMS, provider: TokenProvider
) -> None:
    async def main() -> Token:
        ims.pause()
        fetch = await lead_fetch(provider, ims)
        waiter = sync_waiter(provider)  # a thread of its own: the owner loop keeps running
        ims.resume()
        mine = await fetch
        assert waiter.token() is mine
        return mine

    asyncio.run(main())
    assert ims.count() == 1


def test_a_background_refresh_cut_short_by_its_loop_ending_is_started_again(
    ims: LocalIMS, cred: Credential
) -> None:
    clock = FakeClock()
    refreshed = threading.Event()
    provider = imstoken.from_config(
        cred.config("oauth", **LIMITS),
        clock=clock,
        on_token=lambda _: refreshed.set(),
        # "200 s before expiry" is stale only if the refresh start is not spread (random).
        policy=imstoken.RefreshPolicy(refresh_spread=0.0),
    )

    async def main() -> Token:
        first = await provider.aget_token()
        refreshed.clear()
        # Past every spread refresh start (the last is 90 s before expiry), still usable.
        clock.advance(first.expires_at - clock() - 70)
        ims.pause()
        assert await provider.aget_token() is first  # served; the refresh runs on this loop
        await async_wait_until(lambda: ims.count() == 2)
        return first  # asyncio.run ends, cancelling the refresh: not a failure of IMS

    first = asyncio.run(main())
    ims.resume()
    assert provider.get_token() is first  # still usable; this call starts a new refresh
    assert refreshed.wait(10)
    assert ims.count() == 3
    assert provider.get_token() is not first
    provider.close()
