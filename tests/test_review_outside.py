"""Findings of an outside review (through the public API and the CLI), one test each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import imstoken
from imstoken.testing import Credential, LocalIMS

from .test_cli import imstoken_cli


@pytest.mark.parametrize("key", ["ims_host", "token_url"])
@pytest.mark.parametrize("json_output", [False, True])
def test_config_show_never_prints_a_password_in_a_url(
    ims: LocalIMS, cred: Credential, tmp_path: Path, key: str, json_output: bool
) -> None:
    # The provider refuses such a URL, but `config show` prints what the file holds: the
    # password in it must not reach the terminal (or a CI log) on the way to that error.
    password = "hunter2-" + cred.client_secret[:8]
    url = ims.url.replace("http://", f"http://someone:{password}@")
    if key == "token_url":
        url += "/ims/token/v3"
    config = dict(cred.config("oauth"), **{key: url})
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(config))
    options = ["--json"] if json_output else []
    run = imstoken_cli("config", "show", "--config", str(path), *options)
    assert "must not carry credentials" in run.output
    assert password not in run.output
    assert "someone" not in run.output
    assert "***@127.0.0.1" in run.stdout
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_config(config)
    assert password not in str(caught.value)


def test_a_redis_url_option_error_names_the_source_not_an_environment_variable(
    cred: Credential, tmp_path: Path
) -> None:
    # issue 15 bug 3: an error names the source that applies; IMS_CACHE is not read here.
    config = dict(cred.config("oauth"), cache="redis://127.0.0.1:1/0?no_such_option=1")
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_config(config)
    assert "no_such_option" in str(caught.value)
    assert "IMS_CACHE" not in str(caught.value)
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(config))
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_file(path)
    assert "IMS_CACHE" not in str(caught.value)
    assert str(path) in str(caught.value)
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_env({"IMS_" + key.upper(): str(value) for key, value in config.items()
                           if isinstance(value, str)} | {"IMS_SCOPES": "openid"})
    assert "IMS_CACHE" in str(caught.value)
