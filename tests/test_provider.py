"""The refresh policy: fresh, stale, expired; retries, backoff and the deadline; what is cached."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

import imstoken
from imstoken import Token, TokenRequestError
from imstoken._policy import RefreshPolicy

from .conftest import FakeClock

URL = "https://ims-na1.adobelogin.com/ims/token/v3"
ORG = "ABCDEF123456@AdobeOrg"
CONFIG: dict[str, Any] = {
    "credential": "oauth",
    "client_id": "cid",
    "client_secret": "csecret",
    "org_id": ORG,
    "scopes": ["openid"],
}


def ok(token: str, expires_in: float = 3600) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": token, "token_type": "bearer", "expires_in": expires_in}
    )


class Recorder:
    """Collects on_token / on_error events and lets a test wait for them without sleeping."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []
        self.errors: list[TokenRequestError] = []
        self.event = threading.Event()

    def on_token(self, token: Token) -> None:
        self.tokens.append(token)
        self.event.set()

    def on_error(self, error: TokenRequestError) -> None:
        self.errors.append(error)
        self.event.set()

    def wait(self) -> None:
        assert self.event.wait(10), "no token or error arrived"
        self.event.clear()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def make(
    clock: FakeClock, recorder: Recorder | None = None, **options: Any
) -> imstoken.TokenProvider:
    if recorder is not None:
        options.setdefault("on_token", recorder.on_token)
        options.setdefault("on_error", recorder.on_error)
    options.setdefault("sleep", lambda seconds: None)
    # These tests time refreshes from the window's start: no random spread (tests/test_spread).
    options.setdefault("policy", RefreshPolicy(refresh_spread=0.0))
    return imstoken.from_config(CONFIG, clock=clock, **options)


# ---------------------------------------------------------------- the policy itself


def test_policy_for_a_day_long_token() -> None:
    token = Token("t", "bearer", 1000.0 + 86400, "oauth")
    entry = RefreshPolicy().entry(token, 1000.0, {})
    assert entry.usable_until == 1000.0 + 86400 - 60
    assert entry.stale_at == 1000.0 + 86400 - 60 - 300


def test_policy_scales_for_a_five_second_token() -> None:
    token = Token("t", "bearer", 1005.0, "oauth")
    entry = RefreshPolicy().entry(token, 1000.0, {})
    assert entry.usable_until == pytest.approx(1004.5)  # 10% margin
    assert entry.stale_at == pytest.approx(1002.0)  # refresh in the last half
    assert entry.is_fresh(1001.9)
    assert not entry.is_fresh(1002.0)
    assert entry.is_usable(1004.4)
    assert not entry.is_usable(1004.5)


def test_policy_overrides() -> None:
    token = Token("t", "bearer", 1000.0 + 3600, "oauth")
    entry = RefreshPolicy(refresh_window=600, min_validity=120).entry(token, 1000.0, {})
    assert entry.usable_until == 1000.0 + 3600 - 120
    assert entry.stale_at == entry.usable_until - 600


def test_a_clock_that_went_back_before_the_fetch_is_not_fresh() -> None:
    token = Token("t", "bearer", 1000.0 + 3600, "oauth")
    entry = RefreshPolicy().entry(token, 1000.0, {})
    assert not entry.is_fresh(999.0)
    assert entry.is_usable(999.0)


# ---------------------------------------------------------------- caching


def test_a_fresh_token_is_served_from_memory(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.post(URL).mock(return_value=ok("a"))
    provider = make(clock)
    first = provider.get_token()
    clock.advance(1000)
    assert provider.get_token() is first
    assert route.call_count == 1


def test_providers_built_from_the_same_credential_share_one_token(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.post(URL).mock(return_value=ok("a"))
    tokens = {make(clock).get_token().access_token for _ in range(20)}
    assert tokens == {"a"}
    assert route.call_count == 1


def test_force_refresh_bypasses_the_cache(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.post(URL).mock(side_effect=[ok("a"), ok("b")])
    provider = make(clock)
    assert provider.get_token().access_token == "a"
    assert provider.get_token(force_refresh=True).access_token == "b"
    assert provider.get_token().access_token == "b"
    assert route.call_count == 2


def test_invalidate_drops_the_cached_token(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.post(URL).mock(side_effect=[ok("a"), ok("b")])
    provider = make(clock)
    provider.get_token()
    provider.invalidate()
    assert provider.get_token().access_token == "b"
    assert route.call_count == 2


# ---------------------------------------------------------------- stale and expired


def test_stale_token_is_served_at_once_while_one_refresh_runs(
    mock: respx.MockRouter, clock: FakeClock, recorder: Recorder
) -> None:
    release = threading.Event()
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return ok("old")
        assert release.wait(10)
        return ok("new")

    mock.post(URL).mock(side_effect=answer)
    provider = make(clock, recorder)
    provider.get_token()
    recorder.wait()
    clock.advance(3600 - 60 - 300 + 1)  # inside the refresh window, still valid
    served = [provider.get_token().access_token for _ in range(50)]
    assert served == ["old"] * 50  # nobody waited for the refresh in flight
    release.set()
    recorder.wait()
    assert provider.get_token().access_token == "new"
    assert len(calls) == 2  # exactly one refresh for 50 callers


def test_an_expired_token_is_never_handed_out(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.post(URL).mock(side_effect=[ok("a"), ok("b")])
    provider = make(clock)
    first = provider.get_token()
    clock.now = first.expires_at - 60  # inside the minimum validity margin
    token = provider.get_token()
    assert token.access_token == "b"
    assert token.expires_at - clock.now >= 60
    assert route.call_count == 2


def test_a_five_second_token_refreshes_once_per_window_without_a_storm(
    mock: respx.MockRouter, clock: FakeClock, recorder: Recorder
) -> None:
    counter = iter(range(1000))
    route = mock.post(URL).mock(side_effect=lambda request: ok(f"t{next(counter)}", 5))
    provider = make(clock, recorder)
    provider.get_token()
    recorder.wait()
    for _ in range(200):  # 20 seconds in steps of 0.1 s
        clock.advance(0.1)
        token = provider.get_token()
        assert token.expires_at - clock.now >= 0.5  # never inside the margin
        if clock.now >= token.expires_at - 3.0:  # stale: a background refresh started
            recorder.wait()  # let it land before time moves on
    # One token per ~2 s of life (refresh in the last half of each 5-second token).
    assert 9 <= route.call_count <= 12


def test_failed_background_refresh_keeps_the_valid_token_and_waits_before_retrying(
    mock: respx.MockRouter, clock: FakeClock, recorder: Recorder
) -> None:
    route = mock.post(URL).mock(
        side_effect=[
            ok("old"),
            httpx.Response(400, json={"error": "invalid_client"}),
            httpx.Response(400, json={"error": "invalid_client"}),
            ok("new"),
        ]
    )
    provider = make(clock, recorder)
    provider.get_token()
    recorder.wait()
    clock.advance(3600 - 60 - 300 + 1)
    assert provider.get_token().access_token == "old"
    recorder.wait()
    assert recorder.errors[-1].error == "invalid_client"
    for _ in range(100):
        assert provider.get_token().access_token == "old"
    assert route.call_count == 2  # no hammering while the retry delay runs
    clock.advance(31)
    assert provider.get_token().access_token == "old"
    recorder.wait()
    assert route.call_count == 3
    clock.advance(31)
    provider.get_token()
    recorder.wait()
    assert provider.get_token().access_token == "new"


def test_clock_jumping_back_triggers_a_refresh_instead_of_trusting_the_token(
    mock: respx.MockRouter, clock: FakeClock, recorder: Recorder
) -> None:
    route = mock.post(URL).mock(side_effect=[ok("a"), ok("b")])
    provider = make(clock, recorder)
    provider.get_token()
    recorder.wait()
    clock.advance(-3600)
    assert provider.get_token().access_token == "a"  # still valid by the wall clock
    recorder.wait()
    assert route.call_count == 2
    assert provider.get_token().access_token == "b"


def test_clock_jumping_forward_past_expiry_fetches_a_new_token(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.post(URL).mock(side_effect=[ok("a"), ok("b")])
    provider = make(clock)
    provider.get_token()
    clock.advance(10 * 3600)
    assert provider.get_token().access_token == "b"


# ---------------------------------------------------------------- retries


def test_transient_failures_are_retried_with_growing_backoff(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.post(URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.ConnectError("x"), ok("a")]
    )
    sleeps: list[float] = []
    provider = make(clock, sleep=sleeps.append)
    assert provider.get_token().access_token == "a"
    assert route.call_count == 4
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0
    assert 1.0 <= sleeps[2] <= 2.0


def test_retry_after_is_honoured(mock: respx.MockRouter, clock: FakeClock) -> None:
    mock.post(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "4"}), ok("a")])
    sleeps: list[float] = []
    make(clock, sleep=sleeps.append).get_token()
    assert sleeps[0] >= 4


@pytest.mark.parametrize("status", [400, 401, 403])
def test_credential_errors_are_not_retried(
    mock: respx.MockRouter, clock: FakeClock, status: int
) -> None:
    route = mock.post(URL).mock(
        return_value=httpx.Response(status, json={"error": "invalid_client"})
    )
    with pytest.raises(TokenRequestError) as caught:
        make(clock).get_token()
    assert route.call_count == 1
    assert caught.value.retryable is False
    assert caught.value.status_code == status


def test_retries_stop_at_the_deadline(mock: respx.MockRouter, clock: FakeClock) -> None:
    elapsed = [0.0]

    def monotonic() -> float:
        return elapsed[0]

    def sleep(seconds: float) -> None:
        elapsed[0] += seconds

    route = mock.post(URL).mock(return_value=httpx.Response(503))
    provider = imstoken.from_config(
        {**CONFIG, "deadline": 5}, clock=clock, sleep=sleep, monotonic=monotonic
    )
    with pytest.raises(TokenRequestError) as caught:
        provider.get_token()
    assert caught.value.retryable is True
    assert elapsed[0] <= 5
    assert 2 <= route.call_count <= 6


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.post(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "120"}))
    sleeps: list[float] = []
    with pytest.raises(TokenRequestError) as caught:
        make(clock, sleep=sleeps.append).get_token()
    assert route.call_count == 1
    assert sleeps == []
    assert caught.value.retry_after == 120


def test_nothing_is_cached_from_a_bad_response(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.post(URL).mock(
        side_effect=[httpx.Response(200, text="<html>proxy login</html>"), ok("a")]
    )
    provider = make(clock)
    with pytest.raises(TokenRequestError):
        provider.get_token()
    assert route.call_count == 1  # a 200 with HTML will not fix itself: not retried
    assert provider.get_token().access_token == "a"
    assert route.call_count == 2


# ---------------------------------------------------------------- asyncio


def test_aget_token_serves_and_refreshes(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.post(URL).mock(side_effect=[ok("a"), ok("b")])

    async def main() -> list[str]:
        provider = make(clock)
        first = await provider.aget_token()
        again = await provider.aget_token()
        clock.advance(3600 - 60 - 300 + 1)
        stale = await provider.aget_token()
        # The background refresh is a task on this loop; let it run.
        for _ in range(100):
            if route.call_count == 2 and provider.get_token().access_token == "b":
                break
            await asyncio.sleep(0)
        headers = await provider.aheaders()
        await provider.aclose()
        return [
            first.access_token,
            again.access_token,
            stale.access_token,
            headers["Authorization"],
        ]

    assert asyncio.run(main()) == ["a", "a", "a", "Bearer b"]
    assert route.call_count == 2


def test_async_retries_use_the_async_sleep(mock: respx.MockRouter, clock: FakeClock) -> None:
    mock.post(URL).mock(side_effect=[httpx.Response(500), ok("a")])
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> str:
        provider = make(clock, async_sleep=fake_sleep)
        return (await provider.aget_token()).access_token

    assert asyncio.run(main()) == "a"
    assert len(slept) == 1


def test_async_error_is_typed(mock: respx.MockRouter, clock: FakeClock) -> None:
    mock.post(URL).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))

    async def main() -> None:
        await make(clock).aget_token()

    with pytest.raises(TokenRequestError, match="invalid_client"):
        asyncio.run(main())


def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    gate = asyncio.Event()
    arrived: list[httpx.Request] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        arrived.append(request)
        await gate.wait()
        return ok("a")

    route = mock.post(URL).mock(side_effect=answer)

    async def main() -> str:
        provider = make(clock)
        first = asyncio.create_task(provider.aget_token())
        second = asyncio.create_task(provider.aget_token())
        while not arrived:
            await asyncio.sleep(0)
        first.cancel()
        gate.set()
        return (await second).access_token

    assert asyncio.run(main()) == "a"
    assert route.call_count == 1


# ---------------------------------------------------------------- value objects


def test_token_repr_and_str_never_show_the_token() -> None:
    token = Token("very-secret-token", "bearer", 1.0, "oauth")
    assert "very-secret-token" not in repr(token)
    assert "very-secret-token" not in str(token)
    with pytest.raises(AttributeError):
        token.access_token = "x"  # type: ignore[misc]


def test_provider_repr_names_the_credential_not_the_secret(clock: FakeClock) -> None:
    provider = make(clock)
    assert "oauth" in repr(provider)
    assert "csecret" not in repr(provider)


def test_context_manager_closes_the_client_it_made(
    mock: respx.MockRouter, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[httpx.Client] = []
    original = httpx.Client.close

    def close(client: httpx.Client) -> None:
        closed.append(client)
        original(client)

    monkeypatch.setattr(httpx.Client, "close", close)
    mock.post(URL).mock(return_value=ok("a"))
    with make(clock) as provider:
        provider.get_token()
        assert closed == []
    assert len(closed) == 1


Fetch = Callable[[], object]


def test_providers_keep_sharing_after_the_memory_cache_is_cleared(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    from imstoken import _slots

    route = mock.post(URL).mock(side_effect=[ok("a"), ok("b"), ok("c")])
    old = make(clock)
    old.get_token()
    _slots.clear()
    new = make(clock)
    assert new.get_token().access_token == "b"
    assert old.get_token().access_token == "b"  # same slot: no second fetch
    assert route.call_count == 2
