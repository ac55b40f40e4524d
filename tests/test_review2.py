"""Outside review of issues 11 B, 13 and 14 (second pass): each test is a hole found by
attacking the public API, closed.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator

import httpx
import pytest
import respx

import imstoken
from imstoken.testing import register_secret

from .conftest import OAUTH_CONFIG, OAUTH_URL

# Characters HTML, JSON (a surrogate pair) and forms all escape.
SECRET = "ab&cd<ef>gh\"ij'kl\U0001f600mn+o/p=q%r"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def _refused(mock: respx.MockRouter, response: httpx.Response) -> imstoken.TokenRequestError:
    register_secret(SECRET)
    mock.post(OAUTH_URL).mock(return_value=response)
    provider = imstoken.from_config({**OAUTH_CONFIG, "client_secret": SECRET})
    with pytest.raises(imstoken.TokenRequestError) as caught:
        provider.get_token()
    return caught.value


def _assert_hidden(error: imstoken.TokenRequestError, *forms: str) -> None:
    texts = (str(error), repr(error), error.message, error.error_description or "")
    for text in texts:
        for form in (SECRET, *forms):
            assert form not in text
        assert "ab&cd" not in text and "ab&amp;cd" not in text


def test_a_secret_echoed_as_token_type_is_redacted(mock: respx.MockRouter) -> None:
    error = _refused(
        mock,
        httpx.Response(200, json={"access_token": "t", "token_type": SECRET, "expires_in": 60}),
    )
    assert isinstance(error, imstoken.InvalidTokenResponse)
    assert "not 'bearer'" in str(error) and "***" in str(error)
    _assert_hidden(error, repr(SECRET)[1:-1])


@pytest.mark.parametrize("quote", [True, False])
def test_a_secret_echoed_html_escaped_is_redacted(mock: respx.MockRouter, quote: bool) -> None:
    escaped = html.escape(SECRET, quote=quote)
    assert escaped != SECRET
    error = _refused(
        mock,
        httpx.Response(400, json={"error": "invalid_client", "error_description": escaped}),
    )
    _assert_hidden(error, escaped)


def test_a_secret_echoed_as_uppercase_json_surrogates_is_redacted(
    mock: respx.MockRouter,
) -> None:
    # Java and .NET write \uD83D\uDE00; Python writes \ud83d\ude00.
    escaped = json.dumps(SECRET).replace("\\ud83d\\ude00", "\\uD83D\\uDE00")
    assert "\\uD83D" in escaped
    body = '{"error": "invalid_client", "error_description": "%s"}' % json.dumps(escaped)[1:-1]
    error = _refused(mock, httpx.Response(400, content=body.encode()))
    _assert_hidden(error, escaped)
