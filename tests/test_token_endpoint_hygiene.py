"""What comes back from the token endpoint (issue 11, B.7-B.9): a secret echoed in any encoding
is redacted, cookies are never kept, and a token that cannot travel in a header is refused.

The endpoint is mocked with respx (a "gateway" that echoes what it was sent).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import respx

import imstoken
from imstoken._backends._response import is_vschar_token, redact
from imstoken.testing import register_secret

from .conftest import OAUTH_CONFIG, OAUTH_URL
from .leakscan import LeakScanner, encoded_forms

SECRET = 'p+q/r=s&t%u v~w"x\\y-Zz9'  # every character a form, a URL or JSON escapes
STANDARD_URL = "https://auth.example/oauth2/token"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def good_token(name: str = "good-token-0123456789") -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": name, "token_type": "bearer", "expires_in": 3600}
    )


def forms_of(secret: str) -> list[str]:
    return list(encoded_forms(secret))


def assert_nowhere(secret: str, *texts: str | None) -> None:
    for text in texts:
        if text is None:
            continue
        for form in forms_of(secret):
            assert form not in text
        for size in range(8, len(secret)):  # not even the start of it (a cut description)
            assert secret[:size] not in text


# ---------------------------------------------------------------------- B.7: redaction


def echo(transform: Callable[[httpx.Request], str]) -> Callable[[httpx.Request], httpx.Response]:
    """A gateway that puts (something made of) the rejected request in its error."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={"error": "invalid_request", "error_description": transform(request)},
            headers={"x-debug-id": "dbg-1"},
        )

    return answer


ECHOES: dict[str, Callable[[httpx.Request], str]] = {
    "form body as sent": lambda r: "rejected: " + r.content.decode(),
    "form body, lowercase hex": lambda r: (
        "rejected: " + re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), r.content.decode())
    ),
    "quote(safe='')": lambda r: "secret=" + quote(SECRET, safe=""),
    "quote()": lambda r: "secret=" + quote(SECRET),
    "raw": lambda r: "secret=" + SECRET,
    "JSON-escaped": lambda r: json.dumps({"client_secret": SECRET}),
    "JSON, ensure_ascii=False, escaped slash": lambda r: json.dumps(SECRET).replace("/", "\\/"),
    "base64 of the secret": lambda r: base64.b64encode(SECRET.encode()).decode(),
    "base64 of id:secret": lambda r: base64.b64encode(f"cid:{SECRET}".encode()).decode(),
    "cut at 300 characters": lambda r: "x" * 290 + SECRET,
}


@pytest.mark.parametrize("transform", ECHOES.values(), ids=ECHOES.keys())
def test_an_echoed_secret_is_redacted_in_every_encoding(
    mock: respx.MockRouter,
    transform: Callable[[httpx.Request], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    register_secret(SECRET)
    caplog.set_level(logging.DEBUG)
    mock.post(OAUTH_URL).mock(side_effect=echo(transform))
    errors: list[imstoken.TokenRequestError] = []
    provider = imstoken.from_config(
        {**OAUTH_CONFIG, "client_secret": SECRET}, on_error=errors.append
    )
    with pytest.raises(imstoken.TokenRequestRefused) as caught:
        provider.get_token()
    error = caught.value
    assert error.error == "invalid_request" and error.debug_id == "dbg-1"
    assert_nowhere(SECRET, str(error), repr(error), error.error_description, caplog.text)
    assert "***" in (error.error_description or "")


def test_async_an_echoed_form_encoded_secret_is_redacted(mock: respx.MockRouter) -> None:
    register_secret(SECRET)
    mock.post(OAUTH_URL).mock(side_effect=echo(ECHOES["form body as sent"]))
    provider = imstoken.from_config({**OAUTH_CONFIG, "client_secret": SECRET})

    async def main() -> imstoken.TokenRequestError:
        try:
            await provider.aget_token()
        except imstoken.TokenRequestError as error:
            return error
        finally:
            await provider.aclose()
        raise AssertionError("no error")

    error = asyncio.run(main())
    assert_nowhere(SECRET, str(error), error.error_description)


def test_an_echoed_basic_authorization_header_is_redacted(mock: respx.MockRouter) -> None:
    register_secret(SECRET)
    mock.post(STANDARD_URL).mock(
        side_effect=echo(lambda r: "bad header " + r.headers["Authorization"])
    )
    config = {
        "profile": "standard",
        "credential": "oauth",
        "token_url": STANDARD_URL,
        "client_id": "client:id",
        "client_secret": SECRET,
        "client_auth": "client_secret_basic",
    }
    with pytest.raises(imstoken.TokenRequestRefused) as caught:
        imstoken.from_config(config).get_token()
    assert "bad header Basic " in str(caught.value)
    basic = base64.b64encode(f"{quote_plus('client:id')}:{quote_plus(SECRET)}".encode()).decode()
    assert basic not in str(caught.value)
    assert_nowhere(SECRET, str(caught.value))


def test_redact_masks_secrets_of_four_characters_or_more_only() -> None:
    assert redact("abc and abcd and ab%63d", ["abcd", "abc"]) == "abc and *** and ***"


def test_the_leak_scan_finds_encoded_secrets() -> None:
    canary = "Canary+/=&%" + "Zq9xW2vB7nK4" * 2  # made here, never registered
    for text in (
        f"form: client_secret={quote_plus(canary)}",
        "form: client_secret="
        + re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(canary, safe="")),
        "json: " + json.dumps({"s": canary}).replace("/", "\\/"),
        "basic: " + base64.b64encode(f"someone:{canary}".encode()).decode(),
        "basic, RFC 6749: " + base64.b64encode(f"id:{quote_plus(canary)}".encode()).decode(),
    ):
        scanner = LeakScanner()
        scanner.add("log", text)
        (finding,) = scanner.scan([canary])
        assert canary not in str(finding)


# ---------------------------------------------------------------------- B.8: cookies


def test_a_cookie_from_the_token_endpoint_is_never_sent_back(mock: respx.MockRouter) -> None:
    route = mock.post(OAUTH_URL)
    route.mock(
        side_effect=[
            httpx.Response(
                200,
                json={"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600},
                headers={"Set-Cookie": "affinity=node-7; Path=/; Secure"},
            ),
            good_token("tok-2"),
        ]
    )
    provider = imstoken.from_config(OAUTH_CONFIG)
    provider.get_token()
    provider.get_token(force_refresh=True)
    assert route.call_count == 2
    assert "cookie" not in route.calls[1].request.headers


def test_async_a_cookie_from_the_token_endpoint_is_never_sent_back(
    mock: respx.MockRouter,
) -> None:
    route = mock.post(OAUTH_URL)
    route.mock(
        side_effect=[
            httpx.Response(
                200,
                json={"access_token": "tok-1", "token_type": "bearer", "expires_in": 3600},
                headers={"Set-Cookie": "affinity=node-7; Path=/"},
            ),
            good_token("tok-2"),
        ]
    )
    provider = imstoken.from_config(OAUTH_CONFIG)

    async def main() -> None:
        await provider.aget_token()
        await provider.aget_token(force_refresh=True)
        await provider.aclose()

    asyncio.run(main())
    assert "cookie" not in route.calls[1].request.headers


# ---------------------------------------------------------------------- B.9: VSCHAR

BAD_TOKENS = {
    "tab": "abc\tdef",
    "DEL": "abc\x7fdef",
    "control": "abc\x01def",
    "non-ASCII": "tökén-value",
    "line separator": "abc\u2028def",
    "NUL": "abc\x00def",
    "leading space": " abcdef",
    "trailing space": "abcdef ",
    "empty": "",
}


@pytest.mark.parametrize("access_token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_token_outside_vschar_is_refused_and_never_cached(
    mock: respx.MockRouter, access_token: str
) -> None:
    route = mock.post(OAUTH_URL)
    route.mock(
        side_effect=[
            httpx.Response(
                200,
                json={"access_token": access_token, "token_type": "bearer", "expires_in": 3600},
            ),
            good_token(),
        ]
    )
    provider = imstoken.from_config(OAUTH_CONFIG)
    with pytest.raises(imstoken.InvalidTokenResponse) as caught:
        provider.get_token()
    assert caught.value.retryable is False
    if access_token.strip():
        assert access_token not in str(caught.value)
    assert provider.get_token().access_token == "good-token-0123456789"
    assert route.call_count == 2


def test_async_a_token_outside_vschar_is_refused(mock: respx.MockRouter) -> None:
    mock.post(OAUTH_URL).mock(
        return_value=httpx.Response(
            200, json={"access_token": "abc\tdef", "token_type": "bearer", "expires_in": 3600}
        )
    )
    provider = imstoken.from_config(OAUTH_CONFIG)

    async def main() -> Any:
        try:
            with pytest.raises(imstoken.InvalidTokenResponse):
                await provider.aget_token()
        finally:
            await provider.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    "value", ["a", "eyJhbGciOi.x-y_z~+/==", "with inner space", "!#$%&'()*,:;<>?@[]^`{|}"]
)
def test_every_vschar_token_is_accepted(value: str) -> None:
    assert is_vschar_token(value)
