"""Seeing which credential is in use: log records per fetch, on_token, and Token.credential."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from pathlib import Path

import pytest

import imstoken
from imstoken.testing import Credential, LocalIMS


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="imstoken")
    return caplog


def fetch_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "imstoken" and "fetched" in r.getMessage()]


def assert_clean(records: list[logging.LogRecord], *secrets: str) -> None:
    """Neither the message nor any attribute of a record carries a secret or a token."""
    for record in records:
        text = record.getMessage() + repr(vars(record))
        for secret in secrets:
            assert secret not in text


def test_each_fetch_logs_one_info_record_with_credential_latency_and_expiry(
    ims: LocalIMS, cred: Credential, info_logs: pytest.LogCaptureFixture
) -> None:
    with imstoken.from_config(cred.config("oauth")) as provider:
        token = provider.get_token()
    (record,) = fetch_records(info_logs)
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("imstoken: fetched oauth token in ")
    assert " ms " in record.getMessage()
    assert "expires in" in record.getMessage()
    assert record.__dict__["imstoken_credential"] == "oauth"
    assert record.__dict__["imstoken_expires_at"] == token.expires_at


def test_tokens_served_from_the_cache_are_not_logged(
    ims: LocalIMS, cred: Credential, info_logs: pytest.LogCaptureFixture
) -> None:
    with imstoken.from_config(cred.config("oauth")) as provider:
        for _ in range(50):
            provider.get_token()
    assert len(fetch_records(info_logs)) == 1


def test_the_logs_show_the_switch_from_jwt_to_oauth(
    ims: LocalIMS, cred: Credential, info_logs: pytest.LogCaptureFixture
) -> None:
    config = cred.both("jwt")
    with imstoken.from_config(config) as provider:
        provider.get_token()
    config["credential"] = "oauth"  # the one-line cut-over
    with imstoken.from_config(config) as provider:
        provider.get_token()
    messages = [r.getMessage() for r in fetch_records(info_logs)]
    assert [m.split(" token ")[0] for m in messages] == [
        "imstoken: fetched jwt",
        "imstoken: fetched oauth",
    ]


def test_log_records_never_carry_the_token_or_secrets(
    ims: LocalIMS, cred: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="imstoken")
    for credential in ("jwt", "oauth"):
        with imstoken.from_config(cred.config(credential)) as provider:
            provider.get_token()
    ims.remove_credential(cred.client_id)
    with (
        imstoken.from_config(cred.config("oauth")) as provider,
        pytest.raises(imstoken.TokenRequestError),
    ):
        provider.get_token(force_refresh=True)
    assert caplog.records
    assert cred.private_key is not None
    assert_clean(caplog.records, cred.client_secret, cred.private_key, *ims.issued)


def test_a_failed_fetch_is_logged_at_error_with_the_debug_id(
    ims: LocalIMS, cred: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imstoken")
    ims.remove_credential(cred.client_id)
    with (
        imstoken.from_config(cred.config("oauth")) as provider,
        pytest.raises(imstoken.TokenRequestError) as caught,
    ):
        provider.get_token()
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "oauth token request failed" in record.getMessage()
    assert "invalid_client" in record.getMessage()
    assert record.__dict__["imstoken_credential"] == "oauth"
    assert record.__dict__["imstoken_debug_id"] == caught.value.debug_id
    assert caught.value.debug_id


def test_on_token_receives_each_new_token_with_its_credential(
    ims: LocalIMS, cred: Credential
) -> None:
    seen: list[imstoken.Token] = []
    with imstoken.from_config(cred.config("jwt"), on_token=seen.append) as provider:
        first = provider.get_token()
        provider.get_token()  # from the cache: no callback
        second = provider.get_token(force_refresh=True)
    assert seen == [first, second]
    assert {token.credential for token in seen} == {"jwt"}


def test_on_token_passes_through_from_file_and_from_env(
    ims: LocalIMS, cred: Credential, tmp_path: Path
) -> None:
    seen: list[str] = []
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(cred.config("oauth")))
    with imstoken.from_file(path, on_token=lambda t: seen.append(t.credential)) as provider:
        provider.get_token(force_refresh=True)
    environ = {
        "IMS_CREDENTIAL": "oauth",
        "IMS_CLIENT_ID": cred.client_id,
        "IMS_CLIENT_SECRET": cred.client_secret,
        "IMS_ORG_ID": cred.org_id,
        "IMS_SCOPES": ",".join(cred.scopes),
        "IMS_HOST": ims.url,
    }
    with imstoken.from_env(environ, on_token=lambda t: seen.append(t.credential)) as provider:
        provider.get_token(force_refresh=True)
    assert seen == ["oauth", "oauth"]


def test_a_failing_on_token_callback_does_not_break_token_delivery(
    ims: LocalIMS, cred: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(token: imstoken.Token) -> None:
        raise RuntimeError("metrics backend down")

    with imstoken.from_config(cred.config("oauth"), on_token=broken) as provider:
        token = provider.get_token()
    assert token.access_token in ims.issued
    assert any("on_token callback raised" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(
    "on_error" not in inspect.signature(imstoken.TokenProvider.__init__).parameters,
    reason="TokenProvider has no on_error hook",
)
def test_on_error_receives_the_failure(ims: LocalIMS, cred: Credential) -> None:
    errors: list[imstoken.TokenRequestError] = []
    ims.remove_credential(cred.client_id)
    with (
        imstoken.from_config(cred.config("oauth"), on_error=errors.append) as provider,
        pytest.raises(imstoken.TokenRequestError),
    ):
        provider.get_token()
    (error,) = errors
    assert error.error == "invalid_client"


def test_async_fetches_log_and_call_on_token_too(
    ims: LocalIMS, cred: Credential, info_logs: pytest.LogCaptureFixture
) -> None:
    seen: list[imstoken.Token] = []

    async def main() -> imstoken.Token:
        async with imstoken.from_config(cred.config("oauth"), on_token=seen.append) as provider:
            return await provider.aget_token()

    token = asyncio.run(main())
    assert seen == [token]
    assert len(fetch_records(info_logs)) == 1


def test_the_token_says_which_credential_minted_it_and_hides_itself(
    ims: LocalIMS, cred: Credential
) -> None:
    for credential in ("jwt", "oauth"):
        with imstoken.from_config(cred.config(credential)) as provider:
            token = provider.get_token()
            assert provider.credential == credential
        assert token.credential == credential
        assert token.access_token not in repr(token)
        assert token.access_token not in str(token)
        assert token.access_token not in repr(provider)
