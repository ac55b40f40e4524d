"""The exact wire form of the standard profile (any OAuth 2.0 server), checked with respx."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
from typing import Any
from urllib.parse import parse_qs, quote_plus

import httpx
import pytest
import respx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

import imstoken
from imstoken._backends._standard import (
    CLIENT_ASSERTION_TYPE,
    JWT_BEARER_GRANT,
    StandardClientCredentialsBackend,
    StandardJWTBearerBackend,
    basic_authorization,
)
from imstoken._config import build_settings
from imstoken._factory import build_backend
from imstoken.testing import generate_private_key

from .conftest import FakeClock

TOKEN_URL = "https://auth.example.com/oauth2/token"
# ':' '%' '+' ' ' and a non-ASCII letter: each is mangled if §2.3.1's encoding step is skipped.
SECRET = "s3cr:t %+é/x"
OK = {"access_token": "tok-123", "token_type": "Bearer", "expires_in": 3600}


@functools.cache
def rsa_pem() -> str:
    return generate_private_key("RSA")


@functools.cache
def ec_pem() -> str:
    return generate_private_key("EC")


def form_of(request: httpx.Request) -> dict[str, str]:
    parsed = parse_qs(request.content.decode(), keep_blank_values=True)
    assert all(len(values) == 1 for values in parsed.values())
    return {k: v[0] for k, v in parsed.items()}


def oauth(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "credential": "oauth",
        "profile": "standard",
        "token_url": TOKEN_URL,
        "client_id": "my client",
        "client_secret": SECRET,
        "scopes": ["api.read", "api.write"],
    }
    config.update(extra)
    return config


def bearer(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "credential": "jwt",
        "profile": "standard",
        "token_url": TOKEN_URL,
        "client_id": "cid",
        "private_key": rsa_pem(),
        "scopes": ["api.read", "api.write"],
    }
    config.update(extra)
    return config


def fetch(config: dict[str, Any], clock: FakeClock, body: Any = None) -> httpx.Request:
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=body or OK))
    with imstoken.from_config(config, clock=clock) as provider:
        provider.get_token()
    assert route.call_count == 1
    request: httpx.Request = route.calls.last.request
    return request


def public_of(pem: str) -> RSAKey:
    return RSAKey.import_key(pem)


# ---------------------------------------------------------------- client credentials


@respx.mock
def test_client_secret_basic_form_urlencodes_id_and_secret_before_base64(
    clock: FakeClock,
) -> None:
    request = fetch(oauth(client_auth="client_secret_basic"), clock)
    expected = base64.b64encode(f"{quote_plus('my client')}:{quote_plus(SECRET)}".encode())
    assert request.headers["Authorization"] == "Basic " + expected.decode()
    assert form_of(request) == {"grant_type": "client_credentials", "scope": "api.read api.write"}


def test_basic_authorization_matches_rfc_6749_section_2_3_1() -> None:
    value = basic_authorization("a:b", "p w+%")
    decoded = base64.b64decode(value.removeprefix("Basic ")).decode()
    assert decoded == "a%3Ab:p+w%2B%25"


@respx.mock
def test_client_secret_basic_is_the_default(clock: FakeClock) -> None:
    request = fetch(oauth(), clock)
    assert request.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in form_of(request)


@respx.mock
def test_client_secret_post_puts_id_and_secret_in_the_form(clock: FakeClock) -> None:
    request = fetch(oauth(client_auth="client_secret_post"), clock)
    assert "Authorization" not in request.headers
    assert form_of(request) == {
        "grant_type": "client_credentials",
        "scope": "api.read api.write",
        "client_id": "my client",
        "client_secret": SECRET,
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Accept"] == "application/json"


@respx.mock
def test_private_key_jwt_sends_a_signed_client_assertion(clock: FakeClock) -> None:
    config = oauth(client_auth="private_key_jwt", private_key=rsa_pem(), key_id="key-1")
    del config["client_secret"]
    request = fetch(config, clock)
    form = form_of(request)
    assert "Authorization" not in request.headers
    assert form["grant_type"] == "client_credentials"
    assert form["client_id"] == "my client"
    assert form["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    assert "client_secret" not in form
    token = jwt.decode(form["client_assertion"], public_of(rsa_pem()), algorithms=["RS256"])
    assert token.header == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "my client"
    assert claims["aud"] == TOKEN_URL
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 300
    assert len(claims["jti"]) >= 16


def test_private_key_jwt_uses_a_fresh_jti_every_time() -> None:
    backend = build_backend(
        build_settings(oauth(client_auth="private_key_jwt", private_key=rsa_pem()))
    )
    key = public_of(rsa_pem())
    jtis = {
        jwt.decode(backend.build_request(1_700_000_000.0).form["client_assertion"], key).claims[
            "jti"
        ]
        for _ in range(5)
    }
    assert len(jtis) == 5


@respx.mock
def test_private_key_jwt_has_no_kid_unless_configured(clock: FakeClock) -> None:
    request = fetch(oauth(client_auth="private_key_jwt", private_key=rsa_pem()), clock)
    token = jwt.decode(form_of(request)["client_assertion"], public_of(rsa_pem()))
    assert "kid" not in token.header


@respx.mock
def test_private_key_jwt_with_an_ec_key_signs_es256(clock: FakeClock) -> None:
    request = fetch(oauth(client_auth="private_key_jwt", private_key=ec_pem()), clock)
    token = jwt.decode(
        form_of(request)["client_assertion"], ECKey.import_key(ec_pem()), algorithms=["ES256"]
    )
    assert token.header["alg"] == "ES256"


@respx.mock
def test_private_key_jwt_honours_jwt_expiry_and_extra_claims(clock: FakeClock) -> None:
    config = oauth(
        client_auth="private_key_jwt",
        private_key=rsa_pem(),
        jwt_expiry=60,
        extra_claims={"tenant": "t1"},
    )
    request = fetch(config, clock)
    claims = jwt.decode(form_of(request)["client_assertion"], public_of(rsa_pem())).claims
    assert claims["exp"] - claims["iat"] == 60
    assert claims["tenant"] == "t1"


@respx.mock
def test_audience_resource_and_extra_params_go_in_the_form(clock: FakeClock) -> None:
    config = oauth(
        audience="https://api.example.com",
        resource="https://api.example.com/v1",
        extra_params={"tenant": "t1", "max_age": 5},
    )
    form = form_of(fetch(config, clock))
    assert form["audience"] == "https://api.example.com"
    assert form["resource"] == "https://api.example.com/v1"
    assert form["tenant"] == "t1"
    assert form["max_age"] == "5"


@respx.mock
def test_no_scope_parameter_without_scopes(clock: FakeClock) -> None:
    config = oauth()
    del config["scopes"]
    assert form_of(fetch(config, clock)) == {"grant_type": "client_credentials"}


@respx.mock
def test_scopes_from_a_string_are_space_separated(clock: FakeClock) -> None:
    form = form_of(fetch(oauth(scopes="a, b c"), clock))
    assert form["scope"] == "a b c"


@respx.mock
def test_async_path_sends_the_same_request(clock: FakeClock) -> None:
    route = respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=OK))

    async def main() -> imstoken.Token:
        config = oauth(client_auth="client_secret_post")
        async with imstoken.from_config(config, clock=clock) as provider:
            return await provider.aget_token()

    token = asyncio.run(main())
    assert token.access_token == "tok-123"
    assert form_of(route.calls.last.request)["client_secret"] == SECRET


# ---------------------------------------------------------------- JWT-bearer grant


@respx.mock
def test_jwt_bearer_grant_form_and_claims(clock: FakeClock) -> None:
    config = bearer(issuer="iss-1", subject="user@example.com", key_id="k9")
    form = form_of(fetch(config, clock))
    assert set(form) == {"grant_type", "assertion", "scope"}
    assert form["grant_type"] == JWT_BEARER_GRANT
    assert form["scope"] == "api.read api.write"
    token = jwt.decode(form["assertion"], public_of(rsa_pem()), algorithms=["RS256"])
    assert token.header == {"alg": "RS256", "typ": "JWT", "kid": "k9"}
    claims = token.claims
    assert claims["iss"] == "iss-1"
    assert claims["sub"] == "user@example.com"
    assert claims["aud"] == TOKEN_URL  # the default audience
    assert claims["exp"] == int(clock.now) + 300
    assert claims["iat"] == int(clock.now)
    assert claims["jti"]


@respx.mock
def test_jwt_bearer_defaults_issuer_to_client_id_and_omits_sub(clock: FakeClock) -> None:
    form = form_of(fetch(bearer(), clock))
    claims = jwt.decode(form["assertion"], public_of(rsa_pem())).claims
    assert claims["iss"] == "cid"
    assert "sub" not in claims


@respx.mock
def test_jwt_bearer_audience_and_extra_claims(clock: FakeClock) -> None:
    config = bearer(audience="https://login.example.com", extra_claims={"azp": "x", "n": 1})
    claims = jwt.decode(form_of(fetch(config, clock))["assertion"], public_of(rsa_pem())).claims
    assert claims["aud"] == "https://login.example.com"
    assert claims["azp"] == "x"
    assert claims["n"] == 1


@respx.mock
def test_scope_claim_puts_scopes_in_the_assertion_not_the_form(clock: FakeClock) -> None:
    form = form_of(fetch(bearer(scope_claim=True), clock))
    assert "scope" not in form
    claims = jwt.decode(form["assertion"], public_of(rsa_pem())).claims
    assert claims["scope"] == "api.read api.write"


@respx.mock
def test_jwt_bearer_sends_no_client_authentication_by_default(clock: FakeClock) -> None:
    request = fetch(bearer(), clock)
    assert "Authorization" not in request.headers
    assert not {"client_id", "client_secret", "client_assertion"} & set(form_of(request))


@respx.mock
def test_jwt_bearer_with_a_secret_authenticates_the_client_with_basic(clock: FakeClock) -> None:
    request = fetch(bearer(client_secret=SECRET), clock)
    assert request.headers["Authorization"] == basic_authorization("cid", SECRET)
    assert form_of(request)["grant_type"] == JWT_BEARER_GRANT


@respx.mock
def test_jwt_bearer_with_private_key_jwt_client_auth(clock: FakeClock) -> None:
    form = form_of(fetch(bearer(client_auth="private_key_jwt"), clock))
    key = public_of(rsa_pem())
    client = jwt.decode(form["client_assertion"], key).claims
    grant = jwt.decode(form["assertion"], key).claims
    assert client["iss"] == client["sub"] == "cid"
    assert client["jti"] != grant["jti"]


@respx.mock
def test_jwt_bearer_with_an_ec_key_signs_es256(clock: FakeClock) -> None:
    form = form_of(fetch(bearer(private_key=ec_pem()), clock))
    token = jwt.decode(form["assertion"], ECKey.import_key(ec_pem()), algorithms=["ES256"])
    assert token.header["alg"] == "ES256"


@respx.mock
def test_ps256_can_be_chosen_for_an_rsa_key(clock: FakeClock) -> None:
    form = form_of(fetch(bearer(signing_algorithm="PS256"), clock))
    token = jwt.decode(form["assertion"], public_of(rsa_pem()), algorithms=["PS256"])
    assert token.header["alg"] == "PS256"


# ---------------------------------------------------------------- responses (RFC 6749 §5)


def client_backend() -> StandardClientCredentialsBackend:
    backend = build_backend(build_settings(oauth(default_expires_in=600)))
    assert isinstance(backend, StandardClientCredentialsBackend)
    return backend


def parse(body: Any, status: int = 200) -> imstoken.Token:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return client_backend().parse_response(status, {}, raw, 1000.0)


def test_expires_in_is_seconds() -> None:
    token = parse({"access_token": "t", "token_type": "bearer", "expires_in": 3600})
    assert token.expires_at == 4600.0
    assert token.credential == "oauth"


def test_missing_expires_in_uses_default_expires_in() -> None:
    token = parse({"access_token": "t", "token_type": "Bearer"})
    assert token.expires_at == 1600.0


def test_token_type_is_checked_case_insensitively() -> None:
    assert parse({"access_token": "t", "token_type": "BEARER", "expires_in": 60}).access_token


@pytest.mark.parametrize("token_type", ["mac", "DPoP", "N_A"])
def test_non_bearer_token_type_is_rejected(token_type: str) -> None:
    with pytest.raises(imstoken.TokenRequestError, match="not 'bearer'") as caught:
        parse({"access_token": "t", "token_type": token_type, "expires_in": 60})
    assert not caught.value.retryable


def test_missing_token_type_is_rejected() -> None:
    with pytest.raises(imstoken.TokenRequestError, match="token_type"):
        parse({"access_token": "t", "expires_in": 60})


def test_scope_is_echoed_on_the_token() -> None:
    token = parse({"access_token": "t", "token_type": "bearer", "scope": "a b"})
    assert token.scope == "a b"


def test_error_response_per_section_5_2() -> None:
    with pytest.raises(imstoken.TokenRequestError) as caught:
        parse({"error": "invalid_client", "error_description": "bad client"}, status=401)
    error = caught.value
    assert (error.status_code, error.error, error.error_description) == (
        401,
        "invalid_client",
        "bad client",
    )
    assert not error.retryable


# ---------------------------------------------------------------- secrets stay secret


def test_backend_and_request_reprs_show_no_secrets() -> None:
    for config in (
        oauth(),
        oauth(client_auth="client_secret_post"),
        oauth(client_auth="private_key_jwt", private_key=rsa_pem()),
        bearer(client_secret=SECRET),
    ):
        settings = build_settings(config)
        backend = build_backend(settings)
        request = backend.build_request(1_700_000_000.0)
        secrets = [SECRET, "PRIVATE KEY", *request.form.values(), *request.headers.values()]
        secrets = [s for s in secrets if s not in ("client_credentials", JWT_BEARER_GRANT)]
        secrets = [s for s in secrets if s not in ("application/json", "api.read api.write")]
        secrets = [s for s in secrets if s not in ("my client", "cid")]
        for text in (repr(backend), str(backend), repr(request), str(request), repr(settings)):
            for secret in secrets:
                assert secret not in text


@respx.mock
def test_an_echoed_secret_or_assertion_is_masked_in_errors_and_logs(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        form = form_of(request)
        echoed = " ".join(form.values()) + " " + request.headers.get("Authorization", "")
        return httpx.Response(
            400, json={"error": "invalid_grant", "error_description": f"bad: {echoed}"[:290]}
        )

    respx.post(TOKEN_URL).mock(side_effect=echo)
    caplog.set_level(logging.DEBUG, logger="imstoken")
    for config in (
        bearer(client_secret=SECRET),
        oauth(client_auth="client_secret_post"),
        oauth(),
    ):
        with (
            imstoken.from_config(config, clock=clock) as provider,
            pytest.raises(imstoken.TokenRequestError) as caught,
        ):
            provider.get_token()
        texts = [str(caught.value), repr(caught.value), caught.value.error_description or ""]
        texts.append(caplog.text)
        basic = basic_authorization(config["client_id"], SECRET).removeprefix("Basic ")
        for text in texts:
            assert SECRET not in text
            assert basic not in text
            assert "eyJ" not in text  # no signed assertion, not even a prefix of one


def test_assertion_is_masked_even_when_truncated() -> None:
    backend = build_backend(build_settings(bearer()))
    assert isinstance(backend, StandardJWTBearerBackend)
    assertion = backend.sign(1_700_000_000.0)
    body = json.dumps({"error": "invalid_grant", "error_description": assertion[:120]})
    with pytest.raises(imstoken.TokenRequestError) as caught:
        backend.parse_response(400, {}, body.encode(), 1.0)
    assert assertion[:40] not in str(caught.value)
    assert caught.value.error_description == "***"


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"token_url": "http://auth.example.com/token"}, "token_url"),
        ({"token_url": None}, "token_url"),
        ({"client_auth": "client_secret_jwt"}, "client_auth"),
        ({"client_auth": "none"}, "client_auth"),
        ({"client_secret": None}, "client_secret"),
        ({"extra_params": {"grant_type": "password"}}, "extra_params"),
        ({"extra_params": {"client_secret": "x"}}, "extra_params"),
        ({"extra_params": {"audience": "x"}, "audience": "y"}, "extra_params"),
        ({"extra_claims": {"a": 1}}, "extra_claims"),
        ({"scope_claim": True}, "scope_claim"),
    ],
)
def test_bad_client_credentials_config_names_the_key(extra: dict[str, Any], key: str) -> None:
    config = oauth(**extra)
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_config(config)
    assert caught.value.key == key
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"private_key": None}, "private_key_path"),
        ({"private_key": ec_pem(), "signing_algorithm": "RS256"}, "signing_algorithm"),
        ({"private_key": ec_pem(), "signing_algorithm": "ES384"}, "signing_algorithm"),
        ({"signing_algorithm": "ES256"}, "signing_algorithm"),
        ({"signing_algorithm": "HS256"}, "signing_algorithm"),
        ({"signing_algorithm": "none"}, "signing_algorithm"),
        ({"extra_claims": {"aud": "x"}}, "extra_claims"),
        ({"extra_claims": {"jti": "fixed"}}, "extra_claims"),
        ({"extra_claims": {"when": object()}}, "extra_claims"),
        ({"scope_claim": True, "extra_claims": {"scope": "x"}}, "extra_claims"),
        ({"scope_claim": True, "scopes": None}, "scopes"),
        ({"scope_claim": "maybe"}, "scope_claim"),
        ({"client_auth": "client_secret_post"}, "client_secret"),
    ],
)
def test_bad_jwt_bearer_config_names_the_key(extra: dict[str, Any], key: str) -> None:
    config = bearer(**extra)
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_config(config)
    assert caught.value.key == key
    assert "PRIVATE KEY" not in str(caught.value)


def test_ec_key_with_rs256_is_a_config_error_that_says_why() -> None:
    with pytest.raises(imstoken.ConfigError, match="does not fit the EC private key"):
        imstoken.from_config(bearer(private_key=ec_pem(), signing_algorithm="RS256"))


def test_org_id_is_not_required_and_no_adobe_headers_are_added() -> None:
    settings = build_settings(oauth())
    assert settings.org_id is None
    from imstoken._factory import api_headers

    assert api_headers(settings) == {}


def test_scope_claim_from_the_environment() -> None:
    environ = {
        "IMS_CREDENTIAL": "jwt",
        "IMS_PROFILE": "standard",
        "IMS_TOKEN_URL": TOKEN_URL,
        "IMS_CLIENT_ID": "cid",
        "IMS_PRIVATE_KEY": rsa_pem().replace("\n", "\\n"),
        "IMS_SCOPES": "a, b",
        "IMS_SCOPE_CLAIM": "true",
    }
    with imstoken.from_env(environ) as provider:
        assert provider.credential == "jwt"
