"""The standard profile end to end, against the loopback OAuth 2.0 server in imstoken.testing."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

import imstoken
from imstoken._config import build_settings
from imstoken._factory import build_backend
from imstoken.testing import LocalOAuthServer, OAuthClient, generate_private_key

from .conftest import FakeClock

GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@functools.cache
def ec_pem() -> str:
    return generate_private_key("EC")


@functools.cache
def rsa_pem() -> str:
    return generate_private_key("RSA")


def add(server: LocalOAuthServer, **options: Any) -> OAuthClient:
    """Register a client with a key generated once per session (RSA generation is slow)."""
    if "public_key" not in options:
        options.setdefault(
            "private_key", ec_pem() if options.get("key_kind") == "EC" else rsa_pem()
        )
    return server.add_client(**options)


@pytest.fixture
def server(local_oauth: LocalOAuthServer) -> LocalOAuthServer:
    return local_oauth


@pytest.fixture
def client(server: LocalOAuthServer) -> OAuthClient:
    return add(server)


def no_sleep(seconds: float) -> None:
    return None


def get(config: dict[str, Any], **options: Any) -> imstoken.Token:
    with imstoken.from_config(config, sleep=no_sleep, **options) as provider:
        return provider.get_token()


# ---------------------------------------------------------------- client credentials


@pytest.mark.parametrize(
    "client_auth", ["client_secret_basic", "client_secret_post", "private_key_jwt"]
)
def test_each_client_auth_method_gets_a_token(
    server: LocalOAuthServer, client: OAuthClient, client_auth: str
) -> None:
    token = get(client.config("oauth", client_auth=client_auth))
    assert token.credential == "oauth"
    assert token.access_token in server.issued
    assert token.scope == "read write"
    request = server.requests[-1]
    assert (request.auth_method, request.client_id, request.error) == (
        client_auth,
        client.client_id,
        None,
    )


def test_basic_secret_with_reserved_characters_round_trips(server: LocalOAuthServer) -> None:
    client = add(server, client_id="id:with space", client_secret="p:a%s s+w/ö")
    assert get(client.config("oauth", client_auth="client_secret_basic")).access_token


def test_a_client_limited_to_one_method_refuses_the_others(server: LocalOAuthServer) -> None:
    client = add(server, auth_methods=["client_secret_post"])
    with pytest.raises(imstoken.TokenRequestError) as caught:
        get(client.config("oauth", client_auth="client_secret_basic"))
    assert (caught.value.status_code, caught.value.error) == (401, "invalid_client")
    assert get(client.config("oauth", client_auth="client_secret_post")).access_token


def test_wrong_secret_is_invalid_client_and_never_shown(
    server: LocalOAuthServer, client: OAuthClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="imstoken")
    config = client.config("oauth", client_auth="client_secret_post", client_secret="wrong-1234")
    with pytest.raises(imstoken.TokenRequestError) as caught:
        get(config)
    error = caught.value
    assert (error.status_code, error.error, error.retryable) == (401, "invalid_client", False)
    assert server.count("oauth") == 1  # not retried
    for text in (str(error), repr(error), caplog.text):
        assert "wrong-1234" not in text
        assert str(client.client_secret) not in text


def test_private_key_jwt_with_an_ec_key(server: LocalOAuthServer) -> None:
    client = add(server, key_kind="EC", with_secret=False)
    token = get(client.config("oauth"))
    assert token.access_token
    request = server.requests[-1]
    assert request.auth_method == "private_key_jwt"
    assert request.client_assertion_claims["aud"] == server.token_url


def test_private_key_jwt_with_a_key_registered_as_jwk(server: LocalOAuthServer) -> None:
    private = rsa_pem()
    settings = build_settings(
        {
            "credential": "jwt",
            "profile": "standard",
            "token_url": server.token_url,
            "client_id": "x",
            "private_key": private,
        }
    )
    assert settings.signing_key is not None
    client = add(server, public_key=settings.signing_key.public_jwk(), with_secret=False)
    token = get(client.config("oauth", client_auth="private_key_jwt", private_key=private))
    assert token.access_token


def test_a_replayed_client_assertion_is_rejected(
    server: LocalOAuthServer, client: OAuthClient
) -> None:
    backend = build_backend(build_settings(client.config("oauth", client_auth="private_key_jwt")))
    request = backend.build_request(server.clock())
    with httpx.Client() as http:
        first = http.post(request.url, data=dict(request.form), headers=dict(request.headers))
        again = http.post(request.url, data=dict(request.form), headers=dict(request.headers))
    assert first.status_code == 200
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"
    assert "replay" in again.json()["error_description"]


def test_two_fetches_use_two_jtis(server: LocalOAuthServer, client: OAuthClient) -> None:
    with imstoken.from_config(client.config("oauth", client_auth="private_key_jwt")) as p:
        p.get_token()
        p.get_token(force_refresh=True)
    jtis = {r.client_assertion_claims["jti"] for r in server.requests}
    assert len(jtis) == 2
    assert all(r.error is None for r in server.requests)


def test_more_than_one_client_auth_method_is_refused(
    server: LocalOAuthServer, client: OAuthClient
) -> None:
    with httpx.Client() as http:
        response = http.post(
            server.token_url,
            data={"grant_type": "client_credentials", "client_secret": "x", "client_id": "y"},
            auth=("a", "b"),
        )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_scopes_are_sent_space_separated(server: LocalOAuthServer, client: OAuthClient) -> None:
    get(client.config("oauth", scopes="read, write"))
    assert server.requests[-1].form["scope"] == "read write"


def test_a_scope_outside_the_client_is_invalid_scope(
    server: LocalOAuthServer, client: OAuthClient
) -> None:
    with pytest.raises(imstoken.TokenRequestError) as caught:
        get(client.config("oauth", scopes=["read", "admin"]))
    assert caught.value.error == "invalid_scope"


def test_audience_resource_and_extra_params_reach_the_server(
    server: LocalOAuthServer, client: OAuthClient
) -> None:
    get(client.config("oauth", audience="https://api", resource="urn:api", extra_params={"x": "1"}))
    form = server.requests[-1].form
    assert (form["audience"], form["resource"], form["x"]) == ("https://api", "urn:api", "1")


# ---------------------------------------------------------------- JWT-bearer grant


def test_jwt_bearer_grant_gets_a_token(server: LocalOAuthServer) -> None:
    client = add(server, subject="user-7", with_secret=False)
    token = get(client.config("jwt"))
    assert token.credential == "jwt"
    request = server.requests[-1]
    assert request.credential == "jwt"
    assert request.error is None
    assert request.auth_method is None  # the assertion is the only proof
    claims = request.assertion_claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == (
        client.client_id,
        "user-7",
        server.token_url,
    )
    assert request.form["scope"] == "read write"


def test_jwt_bearer_with_the_wrong_subject_is_invalid_grant(server: LocalOAuthServer) -> None:
    client = add(server, subject="user-7", with_secret=False)
    with pytest.raises(imstoken.TokenRequestError) as caught:
        get(client.config("jwt", subject="user-8"))
    assert (caught.value.status_code, caught.value.error) == (400, "invalid_grant")


def test_jwt_bearer_signed_with_another_key_is_invalid_grant(server: LocalOAuthServer) -> None:
    client = add(server, with_secret=False)
    with pytest.raises(imstoken.TokenRequestError) as caught:
        get(client.config("jwt", private_key=generate_private_key("RSA")))
    assert caught.value.error == "invalid_grant"
    assert caught.value.error_description == "signature invalid"


def test_jwt_bearer_with_an_ec_key(server: LocalOAuthServer) -> None:
    client = add(server, key_kind="EC", with_secret=False)
    assert get(client.config("jwt")).access_token
    assert server.requests[-1].assertion_header["alg"] == "ES256"


def test_jwt_bearer_with_client_authentication(
    server: LocalOAuthServer, client: OAuthClient
) -> None:
    token = get(client.config("jwt", client_secret=client.client_secret))
    assert token.access_token
    assert server.requests[-1].auth_method == "client_secret_basic"


def test_jwt_bearer_with_an_expired_assertion_is_refused(server: LocalOAuthServer) -> None:
    client = add(server, with_secret=False)
    clock = FakeClock(server.clock() - 3600)
    with pytest.raises(imstoken.TokenRequestError, match="expired"):
        get(client.config("jwt"), clock=clock)


def test_jwt_bearer_async(server: LocalOAuthServer) -> None:
    client = add(server, with_secret=False)

    async def main() -> imstoken.Token:
        async with imstoken.from_config(client.config("jwt")) as provider:
            return await provider.aget_token()

    assert asyncio.run(main()).credential == "jwt"


# ---------------------------------------------------------------- kid


def test_kid_required_and_sent(server: LocalOAuthServer) -> None:
    client = add(server, key_id="key-2024", require_kid=True)
    assert get(client.config("oauth", client_auth="private_key_jwt")).access_token
    assert get(client.config("jwt")).access_token
    assert server.requests[-1].assertion_header["kid"] == "key-2024"


@pytest.mark.parametrize(
    ("credential", "client_auth", "error"),
    [("oauth", "private_key_jwt", "invalid_client"), ("jwt", None, "invalid_grant")],
)
def test_missing_kid_where_the_server_requires_one(
    server: LocalOAuthServer, credential: str, client_auth: str | None, error: str
) -> None:
    client = add(server, key_id="key-2024", require_kid=True)
    config = client.config(credential, client_auth=client_auth)
    del config["key_id"]
    with pytest.raises(imstoken.TokenRequestError) as caught:
        get(config)
    assert caught.value.error == error
    assert caught.value.error_description == "kid missing from the JWT header"
    assert not caught.value.retryable


def test_a_wrong_kid_is_refused(server: LocalOAuthServer) -> None:
    client = add(server, key_id="key-2024", require_kid=True)
    with pytest.raises(imstoken.TokenRequestError, match="kid does not name"):
        get(client.config("jwt", key_id="key-2023"))


# ---------------------------------------------------------------- token responses


@pytest.mark.parametrize("token_type", ["bearer", "Bearer", "BEARER"])
def test_bearer_in_any_case_is_accepted(
    server: LocalOAuthServer, client: OAuthClient, token_type: str
) -> None:
    server.token_type = token_type
    assert get(client.config("oauth")).token_type == token_type


def test_non_bearer_token_type_is_rejected_and_not_cached(
    server: LocalOAuthServer, client: OAuthClient
) -> None:
    server.token_type = "mac"
    with imstoken.from_config(client.config("oauth"), sleep=no_sleep) as provider:
        with pytest.raises(imstoken.TokenRequestError, match="not 'bearer'"):
            provider.get_token()
        server.token_type = "Bearer"
        assert provider.get_token().token_type == "Bearer"
    assert server.count("oauth") == 2


def test_missing_expires_in_uses_default_expires_in(
    server: LocalOAuthServer, client: OAuthClient, clock: FakeClock
) -> None:
    server.include_expires_in = False
    token = get(client.config("oauth", default_expires_in=900), clock=clock)
    assert token.expires_at == clock.now + 900


def test_expires_in_is_seconds(
    server: LocalOAuthServer, client: OAuthClient, clock: FakeClock
) -> None:
    server.token_lifetime = 1234
    token = get(client.config("jwt"), clock=clock)
    assert token.expires_at == clock.now + 1234


def test_tokens_are_cached(server: LocalOAuthServer, client: OAuthClient) -> None:
    with imstoken.from_config(client.config("oauth")) as provider:
        first = provider.get_token()
        assert provider.get_token() is first
        assert provider.headers() == {"Authorization": f"Bearer {first.access_token}"}
    assert server.count() == 1


def test_oauth_and_jwt_of_one_client_do_not_share_a_token(
    server: LocalOAuthServer, client: OAuthClient
) -> None:
    assert get(client.config("oauth")).access_token != get(client.config("jwt")).access_token
    assert (server.count("oauth"), server.count("jwt")) == (1, 1)


def test_a_transient_failure_is_retried(server: LocalOAuthServer, client: OAuthClient) -> None:
    server.fail_next(status=503, retry_after="0")
    assert get(client.config("jwt")).access_token
    assert server.count("jwt") == 2


def test_an_html_error_page_is_a_request_error(
    server: LocalOAuthServer, client: OAuthClient
) -> None:
    server.fail_next(status=200, body="<html>proxy</html>")
    with pytest.raises(imstoken.TokenRequestError, match="not a JSON object"):
        get(client.config("oauth"))


# ---------------------------------------------------------------- config rules


@pytest.mark.parametrize(
    "url", ["http://auth.example.com/token", "ftp://127.0.0.1/token", "http://10.0.0.1/token"]
)
def test_a_non_https_token_url_is_refused(url: str, client: OAuthClient) -> None:
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_config(client.config("oauth", token_url=url))
    assert caught.value.key == "token_url"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/token",
        "http://localhost/token",
        "http://[::1]/token",
        "https://auth.example.com/token",
    ],
)
def test_https_or_loopback_token_urls_are_accepted(url: str, client: OAuthClient) -> None:
    with imstoken.from_config(client.config("oauth", token_url=url)) as provider:
        assert provider.token_url == url


def test_an_ec_key_with_rs256_is_a_config_error(server: LocalOAuthServer) -> None:
    client = add(server, key_kind="EC")
    for credential in ("oauth", "jwt"):
        config = client.config(credential, client_auth="private_key_jwt", signing_algorithm="RS256")
        with pytest.raises(imstoken.ConfigError) as caught:
            imstoken.from_config(config)
        assert caught.value.key == "signing_algorithm"
    assert server.count() == 0


def test_an_rsa_key_defaults_to_rs256(server: LocalOAuthServer) -> None:
    client = add(server, with_secret=False)
    get(client.config("jwt"))
    assert server.requests[-1].assertion_header["alg"] == "RS256"


# ---------------------------------------------------------------- Google service-account file


def google_key_file(
    tmp_path: Path, server: LocalOAuthServer, **extra: Any
) -> tuple[Path, OAuthClient]:
    email = "robot@project-1.iam.gserviceaccount.com"
    client = add(
        server,
        client_id="104242424242424242424",
        issuer=email,
        key_id="0123abcd",
        require_kid=True,
        with_secret=False,
        scopes=[GOOGLE_SCOPE, "https://www.googleapis.com/auth/drive"],
    )
    data = {
        "type": "service_account",
        "project_id": "project-1",
        "private_key_id": "0123abcd",
        "private_key": client.private_key,
        "client_email": email,
        "client_id": client.client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": server.token_url,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/robot",
        "universe_domain": "googleapis.com",
        **extra,
    }
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(data))
    return path, client


def test_google_service_account_file_works_with_from_file(
    tmp_path: Path, server: LocalOAuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    path, _ = google_key_file(tmp_path, server)
    with imstoken.from_file(path) as provider:
        assert provider.credential == "jwt"
        token = provider.get_token()
    assert token.scope == GOOGLE_SCOPE
    request = server.requests[-1]
    assert request.error is None
    assert "scope" not in request.form  # Google wants it as a claim
    claims = request.assertion_claims
    assert claims["iss"] == "robot@project-1.iam.gserviceaccount.com"
    assert claims["aud"] == server.token_url
    assert claims["scope"] == GOOGLE_SCOPE
    assert "sub" not in claims  # sub means domain-wide delegation to Google
    assert claims["exp"] - claims["iat"] <= 3600
    assert request.assertion_header == {"alg": "RS256", "typ": "JWT", "kid": "0123abcd"}
    assert "unknown configuration key" not in caplog.text


def test_google_file_with_scopes_and_subject_added(
    tmp_path: Path, server: LocalOAuthServer
) -> None:
    scopes = [GOOGLE_SCOPE, "https://www.googleapis.com/auth/drive"]
    path, client = google_key_file(tmp_path, server, scopes=scopes, subject="admin@example.com")
    client.subject = "admin@example.com"
    with imstoken.from_file(str(path)) as provider:
        provider.get_token()
    claims = server.requests[-1].assertion_claims
    assert claims["scope"] == " ".join(scopes)
    assert claims["sub"] == "admin@example.com"


def test_google_file_as_oauth_is_a_config_error(tmp_path: Path, server: LocalOAuthServer) -> None:
    path, _ = google_key_file(tmp_path, server)
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_file(path, credential="oauth")
    assert caught.value.key == "credential"


def test_google_file_without_a_private_key_names_it(
    tmp_path: Path, server: LocalOAuthServer
) -> None:
    path, _ = google_key_file(tmp_path, server)
    data = json.loads(path.read_text())
    del data["private_key"]
    path.write_text(json.dumps(data))
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_file(path)
    assert caught.value.key == "private_key"


def test_provider_repr_shows_no_private_key(tmp_path: Path, server: LocalOAuthServer) -> None:
    path, client = google_key_file(tmp_path, server)
    with imstoken.from_file(path) as provider:
        token = provider.get_token()
        assert client.private_key is not None
        body = client.private_key.splitlines()[1]
        for text in (repr(provider), str(provider), repr(token), str(token)):
            assert body not in text
            assert token.access_token not in text
