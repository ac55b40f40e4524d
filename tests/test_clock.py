"""Clock trouble: the wall clock jumps between calls.

The test keeps two times apart: *real* time (how long a token really lives, by IMS's clock)
and the *wall clock* the provider reads, which a test makes jump forward or back. Every token
handed out must still be valid in real time (no expired token), and every cached token must be
replaced within one lifetime of real time (no token kept for ever).
"""

from __future__ import annotations

import asyncio
import threading

import pytest

import imstoken
from imstoken import Token
from imstoken.testing import Credential, LocalIMS

from .conftest import FakeClock
from .keys import pem

LIFETIME = 86400.0  # the local IMS's default: a day, like Adobe's
HOUR = 3600.0
MIN_VALIDITY = 60.0  # the policy's defaults for a day-long token
REFRESH_WINDOW = 300.0


@pytest.fixture
def cred(ims: LocalIMS) -> Credential:
    return ims.add_credential(private_key=pem())


class World:
    """Real time, a wall clock that can be wrong, and what each token is really worth."""

    def __init__(self, ims: LocalIMS, cred: Credential, clock: FakeClock) -> None:
        self.ims = ims
        self.clock = clock
        self.real = clock.now  # the wall clock starts right
        self.real_expiry: dict[str, float] = {}
        self.handed_out: list[Token] = []
        self._arrived = threading.Condition()
        self.fetched = 0
        self.provider = imstoken.from_config(
            cred.config("oauth"),
            clock=clock,
            monotonic=lambda: self.real,  # the monotonic clock follows real time, never jumps
            sleep=lambda seconds: None,
            on_token=self._on_token,
        )

    def _on_token(self, token: Token) -> None:
        with self._arrived:
            # IMS minted it just now, in real time: that is when it really expires.
            self.real_expiry.setdefault(token.access_token, self.real + LIFETIME)
            self.fetched += 1
            self._arrived.notify_all()

    def wait_for_fetches(self, count: int) -> None:
        with self._arrived:
            assert self._arrived.wait_for(lambda: self.fetched >= count, timeout=10)

    def advance(self, seconds: float) -> None:
        """Time passes: real time and the wall clock move together."""
        self.real += seconds
        self.clock.advance(seconds)

    def jump(self, seconds: float) -> None:
        """Only the wall clock moves (an NTP step, a VM resumed, an operator's mistake)."""
        self.clock.advance(seconds)

    def get(self) -> Token:
        """get_token(), checked against real time; waits for any fetch it caused."""
        before = self.fetched  # a fetch in this thread calls on_token before returning
        token = self.provider.get_token()
        obtained_at = token.expires_at - LIFETIME
        stale_at = token.expires_at - MIN_VALIDITY - REFRESH_WINDOW
        if not obtained_at - 1e-3 <= self.clock.now < stale_at:
            # Served at once while one refresh runs in the background: let it land.
            self.wait_for_fetches(before + 1)
        self.handed_out.append(token)
        real_expiry = self.real_expiry[token.access_token]
        assert self.real < real_expiry, "an expired token was handed out"
        return token


@pytest.fixture
def world(ims: LocalIMS, cred: Credential, clock: FakeClock) -> World:
    return World(ims, cred, clock)


def test_a_jump_forward_past_expiry_fetches_a_new_token(world: World) -> None:
    first = world.get()
    world.jump(LIFETIME + 1)
    second = world.get()
    assert second.access_token != first.access_token
    assert second.expires_at - world.clock.now == pytest.approx(LIFETIME)  # in the new frame
    assert world.get() is second  # and it is cached in that frame
    assert world.ims.count() == 2


def test_a_jump_forward_by_years_and_back_again_keeps_no_token_for_ever(world: World) -> None:
    world.get()
    world.jump(10 * 365 * 86400)
    from_the_future = world.get()
    world.jump(-10 * 365 * 86400)  # the clock is put right
    # The token from "the future" claims ten years of life in this frame: it is not trusted.
    world.get()
    current = world.get()
    assert current.access_token != from_the_future.access_token
    assert current.expires_at - world.clock.now <= LIFETIME
    assert world.ims.count() == 3


def test_a_jump_back_by_an_hour_right_after_a_fetch_refreshes(world: World) -> None:
    first = world.get()
    world.advance(60)
    world.jump(-HOUR)
    assert world.get().access_token == first.access_token  # still valid: served at once
    second = world.get()  # ...while one refresh ran in the background
    assert second.access_token != first.access_token
    assert second.expires_at - world.clock.now <= LIFETIME


def test_a_jump_back_to_the_epoch_does_not_keep_the_token_for_decades(world: World) -> None:
    first = world.get()
    world.jump(-world.clock.now + 1000.0)  # 1970-01-01T00:16:40Z
    assert world.get().access_token == first.access_token
    current = world.get()
    assert current.access_token != first.access_token
    assert current.expires_at - world.clock.now <= LIFETIME
    # From there on tokens are renewed once per lifetime, not kept for ever.
    for _ in range(3):
        world.advance(LIFETIME)
        world.get()
    assert world.ims.count() == 5


@pytest.mark.parametrize("jump", [-60.0, HOUR, 30 * 86400.0])
def test_real_time_walk_with_a_jump_hands_out_no_expired_token(world: World, jump: float) -> None:
    """Two days of calls every ten minutes; the wall clock jumps once, in a token's life."""
    world.get()
    for step in range(2 * 24 * 6):
        world.advance(600)
        if step == 30:  # five hours into the first token's life
            world.jump(jump)
        world.get()
    # Never more than a few fetches a day: no storm after the jump either.
    assert world.ims.count() <= 2 * 2 + 2


@pytest.mark.parametrize(
    ("jump", "into_life"), [(-HOUR, 5 * HOUR), (-HOUR, 23 * HOUR), (-300.0, 5 * HOUR)]
)
def test_a_step_back_later_in_a_tokens_life_hands_out_no_expired_token(
    world: World, jump: float, into_life: float
) -> None:
    world.get()
    world.advance(into_life)
    world.jump(jump)  # the wall clock now says less than real time
    for _ in range(int((LIFETIME - into_life) / 600) + 12):  # past the real expiry
        world.advance(600)
        world.get()


def test_async_callers_see_a_jump_forward_past_expiry(world: World) -> None:
    async def main() -> tuple[Token, Token]:
        first = await world.provider.aget_token()
        world.jump(LIFETIME + 1)
        second = await world.provider.aget_token()
        await world.provider.aclose()
        return first, second

    first, second = asyncio.run(main())
    assert second.access_token != first.access_token
    assert second.expires_at - world.clock.now >= MIN_VALIDITY
