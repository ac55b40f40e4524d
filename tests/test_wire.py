"""Token response parsing (sans-I/O): every kind of nonsense becomes a typed error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from imstoken import TokenRequestError
from imstoken._backends._response import parse_retry_after, parse_token_response


def parse(status: int = 200, body: object = None, raw: bytes | None = None, **kw: object):  # type: ignore[no-untyped-def]
    data = raw if raw is not None else json.dumps(body).encode()
    options: dict[str, object] = {
        "status": status,
        "headers": kw.pop("headers", {"x-debug-id": "d-1"}),
        "body": data,
        "sent_at": 1000.0,
        "credential": "oauth",
        "expires_in_unit": 1.0,
    }
    options.update(kw)
    return parse_token_response(**options)  # type: ignore[arg-type]


GOOD = {"access_token": "abc", "token_type": "bearer", "expires_in": 3600}


def test_a_good_response_gives_a_token() -> None:
    token = parse(body=GOOD)
    assert (token.access_token, token.token_type, token.expires_at) == ("abc", "bearer", 4600.0)


def test_milliseconds_unit_for_the_jwt_exchange() -> None:
    token = parse(body={**GOOD, "expires_in": 86399999}, expires_in_unit=0.001)
    assert token.expires_at == pytest.approx(1000.0 + 86399.999)


def test_numeric_strings_are_accepted_as_expires_in() -> None:
    assert parse(body={**GOOD, "expires_in": "3600"}).expires_at == 4600.0


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"<html><body>Proxy error</body></html>", "not a JSON object"),
        (b"", "empty body"),
        (b'{"access_token": "abc", "expires_in": 36', "not a JSON object"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"just a string"', "not a JSON object"),
        (json.dumps({"token": "abc", "expires_in": 3600}).encode(), "access_token"),
        (json.dumps({**GOOD, "access_token": ""}).encode(), "access_token"),
        (json.dumps({**GOOD, "access_token": 42}).encode(), "access_token"),
        (json.dumps({**GOOD, "access_token": "a\r\nb"}).encode(), "control"),
        (json.dumps({**GOOD, "expires_in": "soon"}).encode(), "not a number"),
        (json.dumps({**GOOD, "expires_in": None}).encode(), "expires_in"),
        (json.dumps({**GOOD, "expires_in": 0}).encode(), "positive"),
        (json.dumps({**GOOD, "expires_in": -5}).encode(), "positive"),
        (json.dumps({**GOOD, "expires_in": True}).encode(), "not a number"),
        (json.dumps({**GOOD, "expires_in": [1]}).encode(), "not a number"),
        (json.dumps({**GOOD, "expires_in": 10**12}).encode(), "absurd"),
        (b'{"access_token": "abc", "token_type": "bearer", "expires_in": NaN}', "positive"),
        (b'{"access_token": "abc", "token_type": "bearer", "expires_in": Infinity}', "positive"),
        (json.dumps({"access_token": "abc", "token_type": "bearer"}).encode(), "expires_in"),
        (json.dumps({"error": "invalid_client"}).encode(), "OAuth error"),
    ],
)
def test_bad_2xx_bodies_are_not_retryable_errors(raw: bytes, needle: str) -> None:
    with pytest.raises(TokenRequestError, match=needle) as caught:
        parse(raw=raw)
    assert caught.value.retryable is False
    assert caught.value.status_code == 200
    assert caught.value.debug_id == "d-1"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_error_statuses_say_whether_retrying_helps(status: int, retryable: bool) -> None:
    with pytest.raises(TokenRequestError) as caught:
        parse(status=status, body={"error": "some_error", "error_description": "why"})
    assert caught.value.retryable is retryable
    assert caught.value.error == "some_error"
    assert caught.value.error_description == "why"


def test_error_without_json_body_still_has_status_and_debug_id() -> None:
    with pytest.raises(TokenRequestError) as caught:
        parse(status=502, raw=b"<html>Bad gateway</html>")
    assert (caught.value.status_code, caught.value.debug_id) == (502, "d-1")
    assert caught.value.error is None


def test_a_server_echoing_the_secret_is_redacted() -> None:
    with pytest.raises(TokenRequestError) as caught:
        parse(
            status=401,
            body={"error": "invalid_client", "error_description": "bad secret hunter2-xyz"},
            secrets=("hunter2-xyz",),
        )
    assert "hunter2-xyz" not in str(caught.value)
    assert "hunter2-xyz" not in (caught.value.error_description or "")


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7", now=1000.0) == 7.0
    when = datetime.fromtimestamp(1030.0, tz=UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), now=1000.0) == 30.0
    assert parse_retry_after("garbage", now=1000.0) is None
    assert parse_retry_after(None, now=1000.0) is None


def test_retry_after_is_carried_on_the_error() -> None:
    with pytest.raises(TokenRequestError) as caught:
        parse(status=429, raw=b"", headers={"Retry-After": "12"})
    assert caught.value.retry_after == 12.0
    assert caught.value.retryable is True


def test_require_bearer_rejects_other_token_types_case_insensitively() -> None:
    assert parse(body={**GOOD, "token_type": "Bearer"}, require_bearer=True).token_type == "Bearer"
    with pytest.raises(TokenRequestError, match="not 'bearer'"):
        parse(body={**GOOD, "token_type": "mac"}, require_bearer=True)


def test_default_lifetime_when_expires_in_is_absent() -> None:
    body = {"access_token": "abc", "token_type": "bearer"}
    assert parse(body=body, default_expires_in=600).expires_at == 1600.0


def test_oversized_bodies_are_refused() -> None:
    with pytest.raises(TokenRequestError, match="oversized"):
        parse(raw=b"{" + b" " * (1 << 21) + b"}")
