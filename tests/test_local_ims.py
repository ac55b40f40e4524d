"""The bundled local IMS: it must reject what real IMS rejects, or our tests prove nothing."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

import imstoken
from imstoken.testing import Credential, LocalIMS, decode_access_token, generate_private_key


def post(ims: LocalIMS, path: str, form: dict[str, Any]) -> httpx.Response:
    return httpx.post(ims.url + path, data=form)


def sign(cred: Credential, claims: dict[str, Any], key: str | None = None) -> str:
    return jwt.encode({"alg": "RS256"}, claims, RSAKey.import_key(key or cred.private_key or ""))


def good_claims(ims: LocalIMS, cred: Credential) -> dict[str, Any]:
    return {
        "exp": int(time.time()) + 300,
        "iss": cred.org_id,
        "sub": cred.technical_account_id,
        "aud": f"{ims.url}/c/{cred.client_id}",
        f"{ims.url}/s/ent_analytics_bulk_ingest_sdk": True,
    }


def exchange(ims: LocalIMS, cred: Credential, token: str) -> httpx.Response:
    return post(
        ims,
        "/ims/exchange/jwt",
        {"client_id": cred.client_id, "client_secret": cred.client_secret, "jwt_token": token},
    )


def test_valid_assertion_gets_a_token_in_milliseconds(ims: LocalIMS, cred: Credential) -> None:
    response = exchange(ims, cred, sign(cred, good_claims(ims, cred)))
    assert response.status_code == 200
    assert response.json()["expires_in"] == 86400 * 1000
    assert response.headers["x-debug-id"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"iss": "OTHER@AdobeOrg"}, "invalid_token"),
        ({"sub": "other@techacct.adobe.com"}, "invalid_token"),
        ({"aud": "https://ims-na1.adobelogin.com/c/x"}, "invalid_token"),
        ({"exp": int(time.time()) - 60}, "invalid_token"),
        ({"exp": None}, "invalid_token"),
    ],
)
def test_wrong_claims_are_rejected(
    ims: LocalIMS, cred: Credential, change: dict[str, Any], error: str
) -> None:
    claims = {**good_claims(ims, cred), **change}
    claims = {k: v for k, v in claims.items() if v is not None}
    response = exchange(ims, cred, sign(cred, claims))
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_metascope_outside_the_binding_is_invalid_scope(ims: LocalIMS, cred: Credential) -> None:
    claims = {**good_claims(ims, cred), f"{ims.url}/s/ent_user_sdk": True}
    response = exchange(ims, cred, sign(cred, claims))
    assert response.json()["error"] == "invalid_scope"


def test_a_signature_from_another_key_is_rejected(ims: LocalIMS, cred: Credential) -> None:
    token = sign(cred, good_claims(ims, cred), key=generate_private_key())
    assert exchange(ims, cred, token).json()["error"] == "invalid_signature"


def test_oauth_checks_secret_and_comma_scopes(ims: LocalIMS, cred: Credential) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": cred.client_id,
        "client_secret": cred.client_secret,
        "scope": "openid,AdobeID",
    }
    assert post(ims, "/ims/token/v3", form).json()["expires_in"] == 86400
    assert post(ims, "/ims/token/v3", {**form, "scope": "openid AdobeID"}).status_code == 400
    assert post(ims, "/ims/token/v3", {**form, "client_secret": "x"}).status_code == 401
    assert ims.count("oauth") == 3


def test_faults_fire_in_order_then_normal_service_resumes(ims: LocalIMS, cred: Credential) -> None:
    ims.fail_next(status=429, retry_after="1")
    ims.fail_next(status=200, body="<html>proxy</html>")
    form = {
        "grant_type": "client_credentials",
        "client_id": cred.client_id,
        "client_secret": cred.client_secret,
        "scope": "openid",
    }
    first = post(ims, "/ims/token/v3", form)
    assert (first.status_code, first.headers["retry-after"]) == (429, "1")
    assert post(ims, "/ims/token/v3", form).text.startswith("<html>")
    assert post(ims, "/ims/token/v3", form).status_code == 200


def test_issued_tokens_carry_the_identity_for_decoding(ims: LocalIMS, cred: Credential) -> None:
    oauth = imstoken.from_config(cred.config("oauth")).get_token()
    jwt_token = imstoken.from_config(cred.config("jwt")).get_token()
    one, two = decode_access_token(oauth.access_token), decode_access_token(jwt_token.access_token)
    assert one["client_id"] == two["client_id"] == cred.client_id
    assert one["user_id"] == two["user_id"] == cred.technical_account_id


def test_the_flip_is_never_answered_from_the_other_credentials_cache(
    ims: LocalIMS, cred: Credential
) -> None:
    config = cred.both("jwt")
    jwt_token = imstoken.from_config(config).get_token()
    config["credential"] = "oauth"
    oauth_token = imstoken.from_config(config).get_token()
    assert (jwt_token.credential, oauth_token.credential) == ("jwt", "oauth")
    assert jwt_token.access_token != oauth_token.access_token
    assert (ims.count("jwt"), ims.count("oauth")) == (1, 1)
    # and back again: the JWT token is still cached under its own key
    config["credential"] = "jwt"
    assert imstoken.from_config(config).get_token().access_token == jwt_token.access_token
    assert ims.count() == 2


def test_a_deleted_jwt_credential_is_reported_clearly(ims: LocalIMS, cred: Credential) -> None:
    ims.remove_credential(cred.client_id)
    with pytest.raises(imstoken.TokenRequestError) as caught:
        imstoken.from_config(cred.config("jwt")).get_token()
    assert caught.value.error == "invalid_client"
    assert caught.value.debug_id
    assert caught.value.retryable is False


def test_a_five_second_token_from_the_test_server_works(ims: LocalIMS, cred: Credential) -> None:
    ims.token_lifetime = 5
    token = imstoken.from_config(cred.config("oauth")).get_token()
    assert 4 <= token.expires_at - time.time() <= 5
