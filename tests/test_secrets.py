"""Secrets (client secret, private key, passphrase, tokens, signed JWTs) never leak.

Failing and succeeding flows run with every logger at DEBUG; log records, exception text,
tracebacks and the repr of public objects are searched for each secret value.
"""

from __future__ import annotations

import functools
import logging
import traceback
from typing import Any

import httpx
import pytest

import imstoken
from imstoken.testing import Credential, LocalIMS

from .keys import pem, public_pem

PASSPHRASE = "pass-phrase-7Yq"


@functools.cache
def encrypted_key() -> str:
    return pem(passphrase=PASSPHRASE)


def secrets_of(cred: Credential, ims: LocalIMS) -> list[str]:
    values = [cred.client_secret, PASSPHRASE, *ims.issued]
    assert cred.private_key is not None
    # Any line of the PEM body is enough to count as a leak.
    for key in (cred.private_key, encrypted_key(), pem()):
        values += [line for line in key.splitlines() if "-----" not in line]
    values += [r.form["jwt_token"] for r in ims.requests if "jwt_token" in r.form]
    return [v for v in values if v]


def text_of(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), "".join(traceback.format_exception(error))])


def run_flows(ims: LocalIMS, cred: Credential) -> list[str]:
    seen: list[str] = []
    key = encrypted_key()
    config = cred.config("jwt")
    config["private_key"] = key
    config["private_key_passphrase"] = PASSPHRASE
    ims.remove_credential(cred.client_id)
    ims.add_credential(
        client_id=cred.client_id,
        client_secret=cred.client_secret,
        org_id=cred.org_id,
        technical_account_id=cred.technical_account_id,
        public_key=public_pem(),
    )
    ok = imstoken.from_config(config)
    token = ok.get_token()
    seen += [repr(ok), str(ok), repr(token), str(token), repr(ok.requests_auth())]
    flows: list[dict[str, Any]] = [
        {**cred.config("oauth"), "client_secret": cred.client_secret + "-wrong"},
        {**config, "metascopes": ["not_in_binding"]},
        {**cred.config("oauth"), "scopes": ["admin"]},
        {**config, "private_key_passphrase": PASSPHRASE + "x"},
        {**config, "private_key": "garbage " + cred.client_secret},
        {**cred.config("oauth"), "ims_host": "http://127.0.0.1:9", "deadline": 0.5},
    ]
    for flow in flows:
        try:
            imstoken.from_config(flow).get_token(force_refresh=True)
        except imstoken.ImsTokenError as error:
            seen.append(text_of(error))
    ims.fail_next(status=500, body={"error": "server", "error_description": cred.client_secret})
    ims.fail_next(status=200, body="<html>" + cred.client_secret + "</html>")
    try:
        imstoken.from_config({**cred.config("oauth"), "deadline": 2}).get_token()
    except imstoken.ImsTokenError as error:
        seen.append(text_of(error))
    return seen


def test_no_secret_in_logs_errors_or_reprs(
    ims: LocalIMS, cred: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("imstoken", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    seen = run_flows(ims, cred)
    seen += [record.getMessage() for record in caplog.records]
    seen += [
        "".join(traceback.format_exception(*record.exc_info))
        for record in caplog.records
        if record.exc_info
    ]
    haystack = "\n".join(seen)
    assert len(seen) > 10
    assert "invalid_client" in haystack  # the flows did fail, and said why
    for secret in secrets_of(cred, ims):
        assert secret not in haystack


def test_secret_wrapper_hides_its_value() -> None:
    secret = imstoken.Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2"


def test_token_request_repr_hides_form_values() -> None:
    from imstoken._backends import TokenRequest

    request = TokenRequest("https://x/token", {"client_secret": "hunter2"})
    assert "hunter2" not in repr(request)
    assert "client_secret" in repr(request)


def test_network_error_message_has_no_form_data(cred: Credential) -> None:
    transport = httpx.MockTransport(lambda request: (_ for _ in ()).throw(httpx.ConnectError("no")))
    client = httpx.Client(transport=transport)
    provider = imstoken.from_config({**cred.config("oauth"), "deadline": 0.2}, http_client=client)
    with pytest.raises(imstoken.TokenRequestError) as caught:
        provider.get_token()
    assert caught.value.status_code is None
    assert caught.value.retryable is True
    assert cred.client_secret not in text_of(caught.value)
