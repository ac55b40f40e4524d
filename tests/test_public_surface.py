"""The public surface: what `imstoken` exports, the factories' typed options, the error tree."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import httpx
import pytest
import respx

import imstoken

from .conftest import OAUTH_CONFIG, OAUTH_URL

URL = OAUTH_URL
CONFIG: dict[str, Any] = OAUTH_CONFIG


def test_all_is_sorted_and_every_name_is_documented() -> None:
    assert imstoken.__all__ == sorted(imstoken.__all__)
    for name in imstoken.__all__:
        if name != "__version__":
            assert getattr(imstoken, name).__doc__, name


def test_the_policy_and_backoff_are_public() -> None:
    policy = imstoken.RefreshPolicy(refresh_window=600, min_validity=30)
    backoff = imstoken.Backoff(base=0.1, cap=1.0, max_attempts=2)
    provider = imstoken.from_config(CONFIG, policy=policy, backoff=backoff)
    assert provider.credential == "oauth"


@pytest.mark.parametrize(
    ("factory", "arguments"),
    [
        (imstoken.from_config, (CONFIG,)),
        (imstoken.from_env, ({"IMS_CREDENTIAL": "oauth"},)),
    ],
)
def test_a_misspelt_option_names_itself_and_the_right_one(
    factory: Any, arguments: tuple[Any, ...]
) -> None:
    with pytest.raises(TypeError, match=r"'on_tokn'.*did you mean 'on_token'"):
        factory(*arguments, on_tokn=print)


def test_a_misspelt_option_fails_before_the_file_is_read(tmp_path: Any) -> None:
    with pytest.raises(TypeError, match="'polcy'"):
        imstoken.from_file(tmp_path / "missing.toml", polcy=None)


def test_every_option_is_typed() -> None:
    assert set(imstoken.ProviderOptions.__annotations__) == {
        "on_token", "on_error", "http_client", "async_http_client", "policy", "backoff",
        "shared_cache", "clock", "monotonic", "sleep", "async_sleep", "rng",
    }


@pytest.mark.parametrize(
    "kind",
    [
        imstoken.TokenEndpointUnreachable,
        imstoken.TokenRequestTimedOut,
        imstoken.TokenRequestRefused,
        imstoken.InvalidTokenResponse,
    ],
)
def test_every_request_error_kind_is_a_token_request_error(kind: type[Exception]) -> None:
    assert issubclass(kind, imstoken.TokenRequestError)
    assert issubclass(kind, imstoken.ImsTokenError)


def test_message_is_the_sentence_without_the_fields() -> None:
    error = imstoken.TokenRequestRefused(
        "token endpoint refused the request", status_code=401, error="invalid_client",
        debug_id="abc",
    )
    assert error.message == "token endpoint refused the request"
    assert str(error) == (
        "token endpoint refused the request; status=401; error=invalid_client; x-debug-id=abc"
    )
    assert imstoken.ConfigError("is missing", key="client_id").message.endswith("is missing")


def test_errors_survive_copy_and_pickle_with_their_kind_and_fields() -> None:
    error = imstoken.TokenRequestRefused("refused", status_code=503, retryable=True)
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert type(clone) is imstoken.TokenRequestRefused
        assert (clone.message, clone.status_code, clone.retryable) == ("refused", 503, True)


@pytest.fixture
def mock() -> Any:
    with respx.mock(assert_all_called=False) as router:
        yield router


def provider() -> imstoken.TokenProvider:
    return imstoken.from_config({**CONFIG, "deadline": 5}, sleep=lambda s: None)


def test_a_network_error_carries_no_made_up_oauth_error(mock: respx.MockRouter) -> None:
    mock.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(imstoken.TokenEndpointUnreachable) as caught:
        provider().get_token()
    assert (caught.value.error, caught.value.status_code) == (None, None)
    assert caught.value.retryable


def test_an_oversized_5xx_answer_is_refused_and_retryable(mock: respx.MockRouter) -> None:
    body = b"x" * ((1 << 20) + 1)
    route = mock.post(URL).mock(
        side_effect=[httpx.Response(503, content=body), httpx.Response(
            200, json={"access_token": "at", "token_type": "bearer", "expires_in": 3600}
        )]
    )
    assert provider().get_token().access_token == "at"
    assert route.call_count == 2
