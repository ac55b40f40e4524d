"""Outside review of issues 11 B, 13 and 14 (second pass): each test is a hole found by
attacking the public API, closed.
"""

from __future__ import annotations

import html
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

import imstoken
from imstoken.testing import LocalIMS, register_secret

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
    description = json.dumps(escaped)[1:-1]
    body = '{"error": "invalid_client", "error_description": "' + description + '"}'
    error = _refused(mock, httpx.Response(400, content=body.encode()))
    _assert_hidden(error, escaped)


# ---------------------------------------------------------------- FIFOs where secrets should be


def _fifo_in(tmp_path: Path, name: str) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / name
    os.mkfifo(path)
    return path


def test_a_secret_file_swapped_for_a_fifo_never_blocks_a_fetch(
    local_ims: LocalIMS, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    credential = local_ims.add_credential()
    secret_file = tmp_path / "secret"
    secret_file.write_text(credential.client_secret + "\n")
    config = {**credential.config("oauth"), "client_secret": {"file": str(secret_file)}}
    provider = imstoken.from_config(config)
    provider.get_token()
    secret_file.unlink()
    _fifo_in(tmp_path, "secret")
    # Before the fix the re-read opened the FIFO and waited for a writer for ever.
    done: list[imstoken.Token] = []
    worker = threading.Thread(
        target=lambda: done.append(provider.get_token(force_refresh=True)), daemon=True
    )
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():
        with open(secret_file, "wb"):  # release the stuck reader (it sees EOF)
            pass
        worker.join()
        pytest.fail("the fetch blocked on a FIFO at the secret file's path")
    assert done and local_ims.count("oauth") == 2
    assert "not a regular file" in caplog.text
    with pytest.raises(imstoken.ConfigError, match="not a regular file") as caught:
        imstoken.from_config(config)
    assert caught.value.key == "client_secret"


@pytest.mark.parametrize("which", ["private_key_path", "config file"])
def test_a_fifo_as_key_or_config_file_is_a_config_error(
    local_ims: LocalIMS, tmp_path: Path, which: str
) -> None:
    credential = local_ims.add_credential()
    fifo = _fifo_in(tmp_path, "k.pem" if which == "private_key_path" else "ims.toml")
    errors: list[BaseException] = []

    def build() -> None:
        try:
            if which == "private_key_path":
                config = credential.config("jwt")
                config.pop("private_key", None)
                imstoken.from_config({**config, "private_key_path": str(fifo)})
            else:
                imstoken.from_file(fifo)
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():
        with open(fifo, "wb"):
            pass
        worker.join()
        pytest.fail(f"building blocked on a FIFO as the {which}")
    assert len(errors) == 1 and isinstance(errors[0], imstoken.ConfigError)
    assert "not a regular file" in str(errors[0])
