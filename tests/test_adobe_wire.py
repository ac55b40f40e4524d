"""The exact wire form of Adobe's two token requests, checked at the transport with respx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from joserfc import jwt
from joserfc.jwk import RSAKey

import imstoken

from .conftest import FakeClock
from .keys import pem, public_pem

HOST = "https://ims-na1.adobelogin.com"
STAGE = "https://ims-na1-stg1.adobelogin.com"
ORG = "ABCDEF123456@AdobeOrg"
TECH = "TECH123@techacct.adobe.com"


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def oauth(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "credential": "oauth",
        "client_id": "cid",
        "client_secret": "csecret",
        "org_id": ORG,
        "scopes": ["openid", "AdobeID", "read_organizations"],
    }
    config.update(extra)
    return config


def jwt_config(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "credential": "jwt",
        "client_id": "cid",
        "client_secret": "csecret",
        "org_id": ORG,
        "technical_account_id": TECH,
        "private_key": pem(),
        "metascopes": ["ent_analytics_bulk_ingest_sdk", f"{HOST}/s/ent_reactor_sdk"],
    }
    config.update(extra)
    return config


@respx.mock
def test_oauth_posts_client_credentials_with_comma_joined_scopes(clock: FakeClock) -> None:
    route = respx.post(f"{HOST}/ims/token/v3").mock(
        return_value=httpx.Response(
            200, json={"access_token": "tok", "token_type": "bearer", "expires_in": 86399}
        )
    )
    token = imstoken.from_config(oauth(), clock=clock).get_token()
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in request.headers  # client_secret_post, not Basic
    assert form_of(request) == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "csecret",
        "scope": "openid,AdobeID,read_organizations",
    }
    assert token.access_token == "tok"
    assert token.credential == "oauth"
    assert token.expires_at == clock.now + 86399  # seconds on v3


@respx.mock
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_jwt_exchange_form_and_signed_claims(clock: FakeClock) -> None:
    route = respx.post(f"{HOST}/ims/exchange/jwt").mock(
        return_value=httpx.Response(
            200, json={"token_type": "bearer", "access_token": "tok", "expires_in": 86399999}
        )
    )
    token = imstoken.from_config(jwt_config(), clock=clock).get_token()
    form = form_of(route.calls.last.request)
    assert set(form) == {"client_id", "client_secret", "jwt_token"}
    assert form["client_id"] == "cid"
    assert form["client_secret"] == "csecret"
    decoded = jwt.decode(form["jwt_token"], RSAKey.import_key(public_pem()), algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    assert decoded.claims == {
        "exp": int(clock.now) + 300,
        "iss": ORG,
        "sub": TECH,
        "aud": f"{HOST}/c/cid",
        f"{HOST}/s/ent_analytics_bulk_ingest_sdk": True,
        f"{HOST}/s/ent_reactor_sdk": True,  # a full URL metascope is used as is
    }
    # Adobe's JWT exchange answers in milliseconds: 86399999 ms is a day, not 1000 days.
    assert token.expires_at == pytest.approx(clock.now + 86399.999)
    assert token.credential == "jwt"


@respx.mock
def test_jwt_claims_use_the_stage_host_for_aud_and_metascopes(clock: FakeClock) -> None:
    route = respx.post(f"{STAGE}/ims/exchange/jwt").mock(
        return_value=httpx.Response(
            200, json={"token_type": "bearer", "access_token": "tok", "expires_in": 86399999}
        )
    )
    config = jwt_config(ims_env="stage", metascopes=["ent_analytics_bulk_ingest_sdk"])
    imstoken.from_config(config, clock=clock).get_token()
    token = form_of(route.calls.last.request)["jwt_token"]
    claims = jwt.decode(token, RSAKey.import_key(public_pem())).claims
    assert claims["aud"] == f"{STAGE}/c/cid"
    assert claims[f"{STAGE}/s/ent_analytics_bulk_ingest_sdk"] is True


@respx.mock
def test_jwt_expiry_is_configurable(clock: FakeClock) -> None:
    route = respx.post("http://127.0.0.1:9/ims/exchange/jwt").mock(
        return_value=httpx.Response(
            200, json={"token_type": "bearer", "access_token": "t", "expires_in": 86399999}
        )
    )
    imstoken.from_config(
        jwt_config(ims_host="http://127.0.0.1:9", jwt_expiry=60), clock=clock
    ).get_token()
    token = form_of(route.calls.last.request)["jwt_token"]
    assert jwt.decode(token, RSAKey.import_key(public_pem())).claims["exp"] == int(clock.now) + 60


@respx.mock
def test_expires_at_is_the_clock_before_sending_plus_expires_in(clock: FakeClock) -> None:
    before = clock.now

    def slow_answer(request: httpx.Request) -> httpx.Response:
        clock.advance(5)  # the request takes five seconds
        return httpx.Response(
            200, json={"access_token": "tok", "token_type": "bearer", "expires_in": 3600}
        )

    respx.post(f"{HOST}/ims/token/v3").mock(side_effect=slow_answer)
    token = imstoken.from_config(oauth(), clock=clock).get_token()
    assert token.expires_at == before + 3600


@respx.mock
def test_each_retry_signs_a_new_assertion(clock: FakeClock) -> None:
    route = respx.post("http://127.0.0.1:9/ims/exchange/jwt").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(
                200, json={"token_type": "bearer", "access_token": "t", "expires_in": 86399999}
            ),
        ]
    )

    def advance(seconds: float) -> None:
        clock.advance(seconds + 1)

    imstoken.from_config(
        jwt_config(ims_host="http://127.0.0.1:9"), clock=clock, sleep=advance
    ).get_token()
    first, second = (form_of(call.request)["jwt_token"] for call in route.calls)
    assert first != second


@respx.mock
def test_headers_carry_the_token_api_key_and_org(clock: FakeClock) -> None:
    respx.post(f"{HOST}/ims/token/v3").mock(
        return_value=httpx.Response(
            200, json={"access_token": "tok", "token_type": "bearer", "expires_in": 86399}
        )
    )
    provider = imstoken.from_config(oauth(), clock=clock)
    assert provider.headers() == {
        "Authorization": "Bearer tok",
        "x-api-key": "cid",
        "x-gw-ims-org-id": ORG,
    }


@respx.mock
def test_error_response_becomes_a_typed_error_with_debug_id(clock: FakeClock) -> None:
    respx.post(f"{HOST}/ims/token/v3").mock(
        return_value=httpx.Response(
            400,
            headers={"x-debug-id": "dbg-123"},
            content=json.dumps(
                {"error": "invalid_scope", "error_description": "bad scope"}
            ).encode(),
        )
    )
    with pytest.raises(imstoken.TokenRequestError) as caught:
        imstoken.from_config(oauth(), clock=clock).get_token()
    error = caught.value
    assert (error.status_code, error.error, error.error_description, error.debug_id) == (
        400,
        "invalid_scope",
        "bad scope",
        "dbg-123",
    )
    assert error.retryable is False
    assert "csecret" not in str(error)
