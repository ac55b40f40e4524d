"""Fault matrix against the real local IMS: what the caller sees, what reached IMS, what stayed.

Every case sets ``timeout = 0.3`` and ``deadline = 1.0``. The provider's backoff sleeps are
skipped on a virtual clock (real elapsed time plus the skipped sleeps), so the deadline is
still enforced on that clock; the cases where the deadline itself is the point (an answer that
never comes, a trickle) run on real time and measure it.

For each case: the caller gets a token or a ``TokenRequestError`` with the right ``retryable``;
the number of requests that reached IMS is bounded; and nothing bad was cached: once the fault
clears, the next call sends a new request and gets a good token. The counts are recorded with
``record_property`` (``--junitxml`` shows them) for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

import imstoken
from imstoken import Token, TokenRequestError
from imstoken.testing import Credential, LocalIMS

from .conftest import FakeClock
from .keys import pem

TIMEOUT = 0.3
DEADLINE = 1.0
MAX_ATTEMPTS = 6  # Backoff().max_attempts: the hard bound on requests per fetch
SLACK = 0.35  # scheduling noise on a loaded 2-core machine, for the real-time cases
PERSISTENT = 50  # "the fault lasts": more answers than any fetch may ask for

Record = Callable[[str, object], None]


@pytest.fixture
def cred(ims: LocalIMS) -> Credential:
    return ims.add_credential(private_key=pem())  # the session's RSA key: no keygen per case


#: A refused fetch is handed back to callers without a request for this long (refresh_retry_delay).
REFUSAL_PAUSE = 30.0


class VirtualTime:
    """Real elapsed time plus the sleeps the provider asked for (which are skipped)."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.skipped += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def make(
    cred: Credential,
    clock: FakeClock,
    vt: VirtualTime | None = None,
    kind: str = "oauth",
    **config: Any,
) -> imstoken.TokenProvider:
    options: dict[str, Any] = {"clock": clock, "rng": random.Random(7)}
    if vt is not None:
        options.update(sleep=vt.sleep, async_sleep=vt.async_sleep, monotonic=vt.monotonic)
    settings = {"timeout": TIMEOUT, "deadline": DEADLINE, **config}
    return imstoken.from_config(cred.config(kind, **settings), **options)


def assert_recovers(
    ims: LocalIMS, provider: imstoken.TokenProvider, vt: VirtualTime | None = None
) -> Token:
    """Nothing bad was cached: with the fault gone, one new request gives an issued token
    (after a refusal, once its pause is over: ``vt`` skips it)."""
    ims.clear_faults()
    if vt is not None:
        vt.skipped += REFUSAL_PAUSE + 1
    before = ims.count()
    token = provider.get_token()
    assert ims.count() == before + 1
    assert token.access_token == ims.issued[-1]
    return token


def token_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": "fault-token-" + "x" * 40,
        "token_type": "bearer",
        "expires_in": 3600,
    }
    body.update(fields)
    return {key: value for key, value in body.items() if value is not _MISSING}


_MISSING = object()


@dataclass(frozen=True)
class Case:
    """One fault, how often it repeats, and what the caller must see."""

    name: str
    fault: dict[str, Any]
    token: bool = False  # the caller gets a token (else a TokenRequestError)
    retryable: bool = False
    status: int | None = None
    repeat: int = PERSISTENT
    error: str | None = None  # TokenRequestError.error
    lifetime: float | None = None  # expected expires_at - sent_at, for accepted tokens
    credential: str = "oauth"


def expected_kind(case: Case) -> type[TokenRequestError]:
    """The subclass a caller branches on, from what the endpoint did."""
    if case.status is None:
        return imstoken.TokenEndpointUnreachable
    if 200 <= case.status < 300:
        return imstoken.InvalidTokenResponse
    return imstoken.TokenRequestRefused


def status_case(status: int, *, transient: bool) -> Case:
    if transient:
        return Case(f"{status} once, then OK", {"status": status}, token=True, repeat=1)
    return Case(f"{status} persistent", {"status": status}, retryable=True, status=status)


RETRY_AFTER_FAR = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)

CASES: list[Case] = [
    # ---- the server is in trouble: retried within the deadline
    *[status_case(status, transient=False) for status in (500, 502, 503, 504)],
    *[status_case(status, transient=True) for status in (500, 502, 503, 504)],
    Case("408 persistent", {"status": 408}, retryable=True, status=408),
    Case("429 without Retry-After", {"status": 429}, retryable=True, status=429),
    Case("429 without Retry-After once", {"status": 429}, token=True, repeat=1),
    Case(
        "429 Retry-After 30 s (beyond the deadline)",
        {"status": 429, "retry_after": "30"},
        retryable=True,
        status=429,
    ),
    Case(
        "429 Retry-After HTTP-date +60 s (beyond the deadline)",
        {"status": 429, "retry_after": RETRY_AFTER_FAR},
        retryable=True,
        status=429,
    ),
    Case(
        "503 with a JSON error body",
        {"status": 503, "body": {"error": "temporarily_unavailable"}},
        retryable=True,
        status=503,
        error="temporarily_unavailable",
    ),
    Case(
        "connection reset mid-body once",
        {"status": 200, "body": token_body(), "reset": True},
        token=True,
        repeat=1,
    ),
    Case(
        "connection reset mid-body persistent",
        {"status": 200, "body": token_body(), "reset": True},
        retryable=True,
    ),
    Case("connection dropped, no answer", {"drop": True}, retryable=True),
    # ---- the answer is nonsense: not retried, not cached
    Case("200 with HTML", {"status": 200, "body": "<html><body>Sign in</body></html>"}, status=200),
    Case("200 with an empty body", {"status": 200, "body": b""}, status=200),
    Case(
        "200 with truncated JSON",
        {"status": 200, "body": b'{"access_token": "abc", "ex'},
        status=200,
    ),
    Case("200 with a JSON array", {"status": 200, "body": b"[1, 2, 3]"}, status=200),
    Case("200 with a JSON string", {"status": 200, "body": b'"token"'}, status=200),
    Case(
        "200 with the token under the wrong name",
        {
            "status": 200,
            "body": {"token": "abc-" + "x" * 20, "token_type": "bearer", "expires_in": 3600},
        },
        status=200,
    ),
    Case(
        "200 with an OAuth error body",
        {"status": 200, "body": {"error": "invalid_client"}},
        status=200,
        error="invalid_client",
    ),
    Case(
        "200 with a body over 1 MiB",
        {"status": 200, "body": b"x" * ((1 << 20) + 10)},
        status=200,
    ),
    Case("expires_in 'soon'", {"status": 200, "body": token_body(expires_in="soon")}, status=200),
    Case("expires_in 'NaN'", {"status": 200, "body": token_body(expires_in="NaN")}, status=200),
    Case(
        "expires_in NaN (bare JSON)",
        {"status": 200, "body": b'{"access_token": "abcdefgh", "expires_in": NaN}'},
        status=200,
    ),
    Case("expires_in 0", {"status": 200, "body": token_body(expires_in=0)}, status=200),
    Case("expires_in -3600", {"status": 200, "body": token_body(expires_in=-3600)}, status=200),
    Case("expires_in 0.5", {"status": 200, "body": token_body(expires_in=0.5)}, status=200),
    Case("expires_in 10^12", {"status": 200, "body": token_body(expires_in=10**12)}, status=200),
    Case(
        "expires_in a 400-digit integer",
        {
            "status": 200,
            "body": b'{"access_token": "abcdefgh", "expires_in": 1' + b"0" * 400 + b"}",
        },
        status=200,
    ),
    Case(
        "expires_in missing", {"status": 200, "body": token_body(expires_in=_MISSING)}, status=200
    ),
    Case("expires_in true", {"status": 200, "body": token_body(expires_in=True)}, status=200),
    Case("token_type 'mac'", {"status": 200, "body": token_body(token_type="mac")}, status=200),
    Case("token_type 'N_A'", {"status": 200, "body": token_body(token_type="N_A")}, status=200),
    Case("token_type 42", {"status": 200, "body": token_body(token_type=42)}, status=200),
    Case(
        "access_token with CRLF",
        {"status": 200, "body": token_body(access_token="a\r\nb")},
        status=200,
    ),
    # ---- odd but valid: the caller gets the token, and it is cached
    Case(
        "expires_in '3600' (a numeric string)",
        {"status": 200, "body": token_body(expires_in="3600")},
        token=True,
        repeat=1,
        lifetime=3600.0,
    ),
    Case(
        "expires_in 3599.5 (a float)",
        {"status": 200, "body": token_body(expires_in=3599.5)},
        token=True,
        repeat=1,
        lifetime=3599.5,
    ),
    Case(
        "token_type 'Bearer' (any case)",
        {"status": 200, "body": token_body(token_type="BEARER")},
        token=True,
        repeat=1,
        lifetime=3600.0,
    ),
    Case(
        "token_type missing (Adobe profile: taken as bearer)",
        {"status": 200, "body": token_body(token_type=_MISSING)},
        token=True,
        repeat=1,
        lifetime=3600.0,
    ),
    # ---- credential errors: not retried
    Case(
        "401 invalid_client",
        {"status": 401, "body": {"error": "invalid_client", "error_description": "bad secret"}},
        status=401,
        error="invalid_client",
    ),
    Case(
        "400 invalid_scope",
        {"status": 400, "body": {"error": "invalid_scope", "error_description": "no"}},
        status=400,
        error="invalid_scope",
    ),
    Case("403 with HTML", {"status": 403, "body": "<html>Forbidden</html>"}, status=403),
    Case("404 with no body", {"status": 404}, status=404),
    Case(
        "302 redirect",
        {"status": 302, "headers": {"Location": "https://evil.example/"}},
        status=302,
    ),
    # ---- the JWT exchange (milliseconds) goes through the same matrix
    Case("JWT: 503 persistent", {"status": 503}, retryable=True, status=503, credential="jwt"),
    Case("JWT: 503 once, then OK", {"status": 503}, token=True, repeat=1, credential="jwt"),
    Case(
        "JWT: expires_in 10^12 ms (31 years)",
        {"status": 200, "body": token_body(expires_in=10**12)},
        status=200,
        credential="jwt",
    ),
    Case(
        "JWT: 400 invalid_signature",
        {"status": 400, "body": {"error": "invalid_signature"}},
        status=400,
        error="invalid_signature",
        credential="jwt",
    ),
    Case("JWT: 200 with HTML", {"status": 200, "body": "<html/>"}, status=200, credential="jwt"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fault_matrix(
    ims: LocalIMS, cred: Credential, clock: FakeClock, case: Case, record_property: Record
) -> None:
    ims.fail_next(case.repeat, **case.fault)
    vt = VirtualTime()
    provider = make(cred, clock, vt, case.credential)
    sent_at = clock.now
    if case.token:
        token = provider.get_token()
        if case.lifetime is not None:
            assert token.expires_at == pytest.approx(sent_at + case.lifetime)
        else:
            assert token.access_token == ims.issued[-1]
        reached = ims.count()
        transient = case.repeat == 1 and case.lifetime is None  # one failure, then IMS's answer
        assert reached == (2 if transient else 1)
        assert provider.get_token() is token  # a good token is cached
        assert ims.count() == reached
        seen = "token"
    else:
        with pytest.raises(TokenRequestError) as caught:
            provider.get_token()
        error = caught.value
        assert error.retryable is case.retryable
        assert error.status_code == case.status
        assert error.error == case.error  # never made up: only what the endpoint said
        assert isinstance(error, expected_kind(case))
        if error.status_code is not None:
            assert error.debug_id  # Adobe support asks for it: kept from every HTTP answer
        reached = ims.count()
        if case.retryable:
            # Retried, but within the deadline and the attempt limit.
            assert 1 <= reached <= MAX_ATTEMPTS
            assert sum(vt.sleeps) <= DEADLINE
        else:
            assert reached == 1  # retrying nonsense or a credential error cannot help
        seen = f"{type(error).__name__}(retryable={error.retryable}, status={error.status_code})"
        assert_recovers(ims, provider, vt)
    record_property("case", case.name)
    record_property("caller_saw", seen)
    record_property("requests_to_ims", reached)


def test_429_retry_after_seconds_is_waited_for_within_the_deadline(
    ims: LocalIMS, cred: Credential, clock: FakeClock, record_property: Record
) -> None:
    ims.fail_next(1, status=429, retry_after="2")
    vt = VirtualTime()
    token = make(cred, clock, vt, deadline=5.0).get_token()
    assert token.access_token == ims.issued[-1]
    assert ims.count() == 2
    assert vt.sleeps and vt.sleeps[0] >= 2.0
    record_property("requests_to_ims", ims.count())


def test_429_retry_after_http_date_is_waited_for_within_the_deadline(
    ims: LocalIMS, cred: Credential, clock: FakeClock, record_property: Record
) -> None:
    when = datetime.fromtimestamp(clock.now, UTC) + timedelta(seconds=3)
    ims.fail_next(1, status=429, retry_after=format_datetime(when, usegmt=True))
    vt = VirtualTime()
    token = make(cred, clock, vt, deadline=10.0).get_token()
    assert token.access_token == ims.issued[-1]
    assert ims.count() == 2
    assert 1.0 <= vt.sleeps[0] <= 3.5  # HTTP-dates have whole seconds
    record_property("requests_to_ims", ims.count())


def test_retry_after_beyond_the_deadline_is_reported_to_the_caller(
    ims: LocalIMS, cred: Credential, clock: FakeClock
) -> None:
    ims.fail_next(PERSISTENT, status=429, retry_after="30")
    vt = VirtualTime()
    with pytest.raises(TokenRequestError) as caught:
        make(cred, clock, vt).get_token()
    assert caught.value.retry_after == 30
    assert ims.count() == 1  # no point asking again before the server said so
    assert vt.sleeps == []


def test_a_real_credential_error_is_not_retried_and_names_the_error(
    ims: LocalIMS, cred: Credential, clock: FakeClock, record_property: Record
) -> None:
    vt = VirtualTime()
    provider = make(cred, clock, vt, client_secret=cred.client_secret + "-rotated")
    for _ in range(3):
        with pytest.raises(TokenRequestError) as caught:
            provider.get_token()
        assert (caught.value.status_code, caught.value.error) == (401, "invalid_client")
        assert caught.value.retryable is False
        assert caught.value.debug_id
    # Not retried, and not asked again by every caller: the refusal is handed back for a pause.
    assert ims.count() == 1
    vt.skipped += REFUSAL_PAUSE + 1
    with pytest.raises(TokenRequestError):
        provider.get_token()
    assert ims.count() == 2
    record_property("requests_to_ims", ims.count())


# ---------------------------------------------------------------- the network itself


@pytest.fixture
def free_port() -> Iterator[tuple[socket.socket, int]]:
    """A loopback port that is bound but not listening: connections to it are refused."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    try:
        yield holder, holder.getsockname()[1]
    finally:
        holder.close()


def test_connection_refused_is_retryable_and_recovers_when_ims_listens(
    cred: Credential,
    clock: FakeClock,
    free_port: tuple[socket.socket, int],
    record_property: Record,
) -> None:
    holder, port = free_port
    vt = VirtualTime()
    errors: list[TokenRequestError] = []
    provider = imstoken.from_config(
        cred.config(
            "oauth", ims_host=f"http://127.0.0.1:{port}", timeout=TIMEOUT, deadline=DEADLINE
        ),
        clock=clock,
        sleep=vt.sleep,
        monotonic=vt.monotonic,
        rng=random.Random(7),
        on_error=errors.append,
    )
    with pytest.raises(TokenRequestError) as caught:
        provider.get_token()
    assert caught.value.status_code is None
    assert caught.value.retryable is True
    assert caught.value.error is None
    assert isinstance(caught.value, imstoken.TokenEndpointUnreachable)
    attempts = len(vt.sleeps) + 1
    assert 2 <= attempts <= MAX_ATTEMPTS
    assert len(errors) == 1  # one failed fetch, reported once
    holder.close()
    with LocalIMS(port=port) as revived:
        assert cred.private_key is not None
        revived.add_credential(
            client_id=cred.client_id,
            client_secret=cred.client_secret,
            org_id=cred.org_id,
            technical_account_id=cred.technical_account_id,
            private_key=cred.private_key,
        )
        token = provider.get_token()
        assert token.access_token == revived.issued[-1]
        assert revived.count() == 1
    record_property("attempts", attempts)
    record_property("requests_to_ims", 0)


def run(provider: imstoken.TokenProvider, mode: str) -> Token:
    if mode == "sync":
        return provider.get_token()

    async def main() -> Token:
        try:
            return await provider.aget_token()
        finally:
            await provider.aclose()

    return asyncio.run(main())


SLOW_ANSWERS: dict[str, dict[str, Any]] = {
    "a trickled body": {
        "status": 200,
        "body": token_body(),
        "trickle": 0.05,
        "trickle_head": False,
    },
    "trickled status line and headers": {"status": 200, "body": token_body(), "trickle": 0.05},
    "an answer after 5 s": {"status": 200, "body": token_body(), "delay": 5.0},
}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("answer", list(SLOW_ANSWERS))
def test_a_slow_answer_gives_up_at_the_deadline_on_real_time(
    ims: LocalIMS,
    cred: Credential,
    clock: FakeClock,
    mode: str,
    answer: str,
    record_property: Record,
) -> None:
    ims.fail_next(PERSISTENT, **SLOW_ANSWERS[answer])
    provider = make(cred, clock)  # real sleep, real monotonic: the deadline is wall time
    started = time.monotonic()
    with pytest.raises(TokenRequestError) as caught:
        run(provider, mode)
    elapsed = time.monotonic() - started
    assert caught.value.retryable is True
    assert caught.value.status_code is None
    assert elapsed <= DEADLINE + SLACK
    assert 1 <= ims.count() <= math.ceil(DEADLINE / TIMEOUT) + 1
    record_property("seconds_to_error", round(elapsed, 3))
    record_property("requests_to_ims", ims.count())
    ims.clear_faults()
    token = run(make(cred, clock), mode)
    assert token.access_token in ims.issued


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_response_that_never_comes_gives_up_at_the_deadline(
    ims: LocalIMS, cred: Credential, clock: FakeClock, mode: str, record_property: Record
) -> None:
    ims.pause()  # requests are received and counted, never answered
    provider = make(cred, clock)
    started = time.monotonic()
    try:
        with pytest.raises(TokenRequestError) as caught:
            run(provider, mode)
        elapsed = time.monotonic() - started
    finally:
        ims.resume()
    assert caught.value.retryable is True
    assert caught.value.error is None
    assert isinstance(caught.value, imstoken.TokenRequestTimedOut)
    assert "timed out" in str(caught.value)
    assert elapsed <= DEADLINE + SLACK
    reached = ims.count()
    assert 1 <= reached <= math.ceil(DEADLINE / TIMEOUT) + 1
    record_property("seconds_to_error", round(elapsed, 3))
    record_property("requests_to_ims", reached)
    token = run(make(cred, clock), mode)
    # The abandoned requests are answered too once IMS resumes, so the new token need not be
    # the last one issued; it must be a real one, from one new request.
    assert token.access_token in ims.issued
    assert ims.count() == reached + 1


def test_a_slow_but_complete_trickle_within_the_timeout_is_a_token(
    ims: LocalIMS, cred: Credential, clock: FakeClock
) -> None:
    body = token_body()
    size = len(json.dumps(body))
    ims.fail_next(1, status=200, body=body, trickle=0.1 / size, trickle_head=False)
    token = make(cred, clock).get_token()
    assert token.access_token == body["access_token"]
    assert ims.count() == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_reset_once_is_retried_on_a_new_connection(
    ims: LocalIMS, cred: Credential, clock: FakeClock, mode: str
) -> None:
    ims.fail_next(1, status=200, body=token_body(), reset=True)
    vt = VirtualTime()
    token = run(make(cred, clock, vt), mode)
    assert token.access_token == ims.issued[-1]
    assert ims.count() == 2
    assert len(vt.sleeps) == 1
