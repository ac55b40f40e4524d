"""IMS outages: callers keep working while a valid token exists, and fail fast when none does.

The wall clock is a ``FakeClock``; the provider's backoff sleeps are skipped on a virtual
monotonic clock (real time plus the skipped sleeps), so each fetch still stops at its
``deadline``. Background refreshes are awaited through the ``on_token`` / ``on_error``
callbacks, never by sleeping. Counts go to ``record_property`` for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import imstoken
from imstoken import Token, TokenRequestError
from imstoken._policy import RefreshPolicy
from imstoken.testing import Credential, LocalIMS

from .conftest import FakeClock
from .keys import pem

TIMEOUT = 0.3
DEADLINE = 1.0
RETRY_DELAY = 30.0  # between failed background refreshes (RefreshPolicy.refresh_retry_delay)
MIN_VALIDITY = 60.0  # the defaults for a day-long token, spelt out
REFRESH_WINDOW = 300.0
MAX_ATTEMPTS = 6
SLACK = 0.35

Record = Callable[[str, object], None]

OUTAGES: dict[str, dict[str, Any]] = {
    "503": {"status": 503},
    "connection dropped": {"drop": True},
    "500 with HTML": {"status": 500, "body": "<html>Service Unavailable</html>"},
}


@pytest.fixture
def cred(ims: LocalIMS) -> Credential:
    return ims.add_credential(private_key=pem())  # the session's RSA key: no keygen per test


class Events:
    """Counts on_token / on_error calls; lets a test wait for the n-th one without sleeping."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []
        self.errors: list[TokenRequestError] = []
        self._changed = threading.Condition()
        self._async_changed: asyncio.Event | None = None  # set from the loop's own thread

    def on_token(self, token: Token) -> None:
        with self._changed:
            self.tokens.append(token)
            self._changed.notify_all()
        if self._async_changed is not None:
            self._async_changed.set()

    def on_error(self, error: TokenRequestError) -> None:
        with self._changed:
            self.errors.append(error)
            self._changed.notify_all()
        if self._async_changed is not None:
            self._async_changed.set()

    async def until(self, *, tokens: int = 0, errors: int = 0) -> None:
        """The asyncio twin of :meth:`wait` (background refreshes are tasks on this loop)."""
        async with asyncio.timeout(10):
            while len(self.tokens) < tokens or len(self.errors) < errors:
                self._async_changed = asyncio.Event()
                await self._async_changed.wait()

    def wait(self, *, tokens: int = 0, errors: int = 0) -> None:
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: len(self.tokens) >= tokens and len(self.errors) >= errors, timeout=10
            )
        assert arrived, f"waited for {tokens} tokens and {errors} errors"


class VirtualTime:
    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.skipped += seconds


def make(
    cred: Credential, clock: FakeClock, events: Events, vt: VirtualTime | None = None
) -> imstoken.TokenProvider:
    vt = vt or VirtualTime()
    return imstoken.from_config(
        cred.config("oauth", timeout=TIMEOUT, deadline=DEADLINE),
        clock=clock,
        sleep=vt.sleep,
        async_sleep=vt.async_sleep,
        monotonic=vt.monotonic,
        rng=random.Random(7),
        on_token=events.on_token,
        on_error=events.on_error,
        policy=RefreshPolicy(
            refresh_window=REFRESH_WINDOW,
            min_validity=MIN_VALIDITY,
            refresh_retry_delay=RETRY_DELAY,
            refresh_spread=0.0,  # the refreshes are timed from the window's start
        ),
    )


@pytest.mark.parametrize("outage", list(OUTAGES))
@pytest.mark.parametrize("back", ["during the stale window", "at the end of the stale window"])
def test_ims_down_for_the_stale_window_never_fails_a_caller(
    ims: LocalIMS,
    cred: Credential,
    clock: FakeClock,
    outage: str,
    back: str,
    record_property: Record,
) -> None:
    events = Events()
    provider = make(cred, clock, events)
    first = provider.get_token()
    events.wait(tokens=1)
    stale_at = first.expires_at - MIN_VALIDITY - REFRESH_WINDOW
    usable_until = first.expires_at - MIN_VALIDITY
    back_at = stale_at + 250 if back == "during the stale window" else usable_until

    ims.fail_next(100_000, **OUTAGES[outage])  # IMS is down
    ims.reset_counts()
    clock.now = stale_at
    failures = 0  # get_token() calls that did not give a valid token
    calls = 0
    started_at: list[float] = []  # fake-clock instants of background refreshes
    due = stale_at
    while clock.now < back_at:
        calls += 1
        try:
            token = provider.get_token()
        except TokenRequestError:
            failures += 1
        else:
            if token.access_token != first.access_token or token.expires_at <= clock.now:
                failures += 1
        if clock.now >= due:  # the policy starts a refresh now: wait for it to fail
            started_at.append(clock.now)
            events.wait(errors=len(started_at))
            due = clock.now + RETRY_DELAY
        clock.advance(1.0)
    refreshes = len(events.errors)
    requests_down = ims.count()

    ims.clear_faults()  # IMS is back
    ims.reset_counts()
    if back == "during the stale window":
        while len(events.tokens) < 2:  # served the old token until the next spaced refresh
            assert provider.get_token().access_token == first.access_token
            if clock.now >= due:
                events.wait(tokens=2)
                break
            clock.advance(1.0)
    fresh = provider.get_token()
    assert fresh.access_token == ims.issued[-1] != first.access_token
    assert ims.count() == 1  # the first refresh after IMS is back succeeded
    provider.close()  # waits for any background refresh: no unexpected one ran
    assert len(events.errors) == refreshes

    assert failures == 0
    assert refreshes == len(started_at)
    assert all(b - a >= RETRY_DELAY for a, b in itertools.pairwise(started_at))
    assert refreshes <= (back_at - stale_at) / RETRY_DELAY + 1
    assert refreshes <= requests_down <= refreshes * MAX_ATTEMPTS
    record_property("calls_while_down", calls)
    record_property("caller_failures_with_valid_token", failures)
    record_property("background_refreshes", refreshes)
    record_property("requests_to_ims_while_down", requests_down)


def test_async_callers_keep_the_valid_token_through_an_outage(
    ims: LocalIMS, cred: Credential, clock: FakeClock, record_property: Record
) -> None:
    events = Events()

    async def main() -> tuple[int, list[float], Token, Token]:
        provider = make(cred, clock, events)
        first = await provider.aget_token()
        ims.fail_next(100_000, status=503)
        stale_at = first.expires_at - MIN_VALIDITY - REFRESH_WINDOW
        clock.now = due = stale_at
        failures = 0
        started_at: list[float] = []
        while clock.now < stale_at + 120:
            token = await provider.aget_token()
            failures += token.access_token != first.access_token
            if clock.now >= due:
                started_at.append(clock.now)
                await events.until(errors=len(started_at))
                due = clock.now + RETRY_DELAY
            clock.advance(1.0)
        ims.clear_faults()  # IMS is back: the next spaced refresh gets a new token
        while not events.tokens[1:]:
            token = await provider.aget_token()
            failures += token.access_token != first.access_token
            if clock.now >= due:
                await events.until(tokens=2)
            clock.advance(1.0)
        fresh = await provider.aget_token()
        await provider.aclose()
        return failures, started_at, first, fresh

    failures, started_at, first, fresh = asyncio.run(main())
    assert failures == 0
    assert len(events.errors) == len(started_at) == 4  # at 0, 30, 60 and 90 s
    assert fresh.access_token == ims.issued[-1] != first.access_token
    record_property("caller_failures_with_valid_token", failures)
    record_property("background_refreshes", len(started_at))


# ---------------------------------------------------------------- no valid token left


@pytest.mark.parametrize("outage", list(OUTAGES))
def test_ims_down_after_expiry_is_a_typed_error_within_the_deadline(
    ims: LocalIMS, cred: Credential, clock: FakeClock, outage: str, record_property: Record
) -> None:
    events = Events()
    vt = VirtualTime()
    provider = make(cred, clock, events, vt)
    first = provider.get_token()
    ims.fail_next(100_000, **OUTAGES[outage])
    ims.reset_counts()
    clock.now = first.expires_at + 1  # expired, and IMS is down
    begin = vt.monotonic()
    with pytest.raises(TokenRequestError) as caught:
        provider.get_token()
    elapsed = vt.monotonic() - begin  # real time plus the backoff the provider asked for
    assert caught.value.retryable is True
    assert elapsed <= DEADLINE + 0.1  # + scheduling noise after the last attempt's budget
    assert 1 <= ims.count() <= MAX_ATTEMPTS
    record_property("seconds_to_error_virtual", round(elapsed, 3))
    record_property("requests_to_ims", ims.count())

    ims.clear_faults()  # back: the very next call recovers, nothing failed was cached
    ims.reset_counts()
    token = provider.get_token()
    assert token.access_token == ims.issued[-1] != first.access_token
    assert ims.count() == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_hanging_ims_after_expiry_fails_every_caller_within_the_deadline(
    ims: LocalIMS, cred: Credential, clock: FakeClock, mode: str, record_property: Record
) -> None:
    """Eight concurrent callers, no valid token, IMS accepts connections and never answers."""
    events = Events()
    provider = imstoken.from_config(
        cred.config("oauth", timeout=TIMEOUT, deadline=DEADLINE),
        clock=clock,
        rng=random.Random(7),
        on_token=events.on_token,
        on_error=events.on_error,
    )  # real sleeps and real monotonic: the deadline is wall time here
    first = provider.get_token()
    clock.now = first.expires_at + 1
    ims.reset_counts()
    ims.pause()

    def one_caller() -> float:
        begin = time.monotonic()
        with pytest.raises(TokenRequestError) as caught:
            provider.get_token()
        assert caught.value.retryable is True
        return time.monotonic() - begin

    async def async_callers() -> list[float]:
        async def one() -> float:
            begin = time.monotonic()
            with pytest.raises(TokenRequestError) as caught:
                await provider.aget_token()
            assert caught.value.retryable is True
            return time.monotonic() - begin

        try:
            return list(await asyncio.gather(*(one() for _ in range(8))))
        finally:
            await provider.aclose()

    try:
        if mode == "sync":
            with ThreadPoolExecutor(8) as pool:
                times = list(pool.map(lambda _: one_caller(), range(8)))
        else:
            times = asyncio.run(async_callers())
    finally:
        ims.resume()
    assert max(times) <= DEADLINE + SLACK
    # One fetch for all eight (single flight), each attempt bounded by the timeout.
    assert 1 <= ims.count() <= DEADLINE / TIMEOUT + 1
    assert len(events.errors) == 1
    record_property("seconds_to_error_max", round(max(times), 3))
    record_property("requests_to_ims", ims.count())

    token = provider.get_token() if mode == "sync" else asyncio.run(provider.aget_token())
    assert token.access_token in ims.issued  # abandoned requests are answered on resume too
    assert token.access_token != first.access_token


def test_a_valid_token_is_never_replaced_by_an_error_when_a_forced_refresh_fails(
    ims: LocalIMS, cred: Credential, clock: FakeClock
) -> None:
    events = Events()
    provider = make(cred, clock, events)
    first = provider.get_token()
    ims.fail_next(100_000, status=503)
    with pytest.raises(TokenRequestError):
        provider.get_token(force_refresh=True)  # the caller asked for a new one: it is told
    assert provider.get_token().access_token == first.access_token  # the old one still serves
