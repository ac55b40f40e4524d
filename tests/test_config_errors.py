"""Configuration that could only fail later fails now, and its errors name the right source.

Issue 11 E (bad URLs, control characters, deep TOML, non-string environment values) and
issue 15 bugs 2-4 ("did you mean" in the error, the source that applies, resolved key paths).
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

import imstoken
from imstoken import ConfigError
from imstoken._config import ALIASES, ENV_VARS, KNOWN_KEYS

from .keys import pem
from .test_config import ORG, SECRET, TECH
from .test_config import jwt_config as jwt
from .test_config import oauth_config as oauth

LOCAL = "http://127.0.0.1:1"  # not the production host: no JWT retirement warning


def standard(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "credential": "oauth",
        "profile": "standard",
        "client_id": "client-1",
        "client_secret": SECRET,
        "token_url": "https://login.example.com/oauth2/token",
    }
    config.update(extra)
    return config


def refused(config: dict[str, Any], key: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        imstoken.from_config(config)
    assert caught.value.key == key, str(caught.value)
    assert SECRET not in str(caught.value)
    return caught.value


# ------------------------------------------------------------------ 14: URLs checked eagerly

BAD_HOSTS = [
    "https://ims\n.example.com",
    "https://xn--.com",
    "https://xn--zz.example.com",
    "https://a..b",
    "https://.example.com",
    "https://a b.example.com",
    "https://ims\u2028example.com",
    "https://-ims.example.com",
    "https://ims-.example.com",
    "https://" + "a" * 64 + ".example.com",
    "https://%41.example.com",
    "https://ims_.exa!mple.com",
    "https://ims.example.com:",
    "https://ims.example.com:0",
    "https://@ims.example.com",
    "https://999.1.1.1",
]


@pytest.mark.parametrize("url", BAD_HOSTS)
def test_a_bad_ims_host_is_a_config_error_naming_the_key(url: str) -> None:
    error = refused(oauth(ims_host=url), "ims_host")
    assert url.strip() not in str(error)


@pytest.mark.parametrize("url", BAD_HOSTS[::3])
def test_a_bad_token_url_is_a_config_error_naming_the_key(url: str) -> None:
    refused(oauth(token_url=url + "/ims/token/v3"), "token_url")
    refused(standard(token_url=url + "/token"), "token_url")


@pytest.mark.parametrize(
    "url",
    [
        "redis://a..b:6379/0",
        "redis://-redis.example.com/0",
        "redis://redis.example.com:0/0",
        "redis://redis.example.com/not-a-number",
        "redis://:pw-never-shown@redis\n.example.com/0",
        "rediss://:pw-never-shown@xn--.example.com:6380/0",
        "unix://",
    ],
)
def test_a_bad_redis_url_is_a_config_error_that_never_shows_it(url: str) -> None:
    error = refused(oauth(cache=url), "cache")
    assert "pw-never-shown" not in str(error)


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("ims_host", "https://ims-na1.adobelogin.com", "https://ims-na1..adobelogin.com"),
        ("ims_host", "https://ims.bücher.example", "https://ims.xn--.example"),
        ("ims_host", "https://ims.example.com.:8443/", "https://ims.example.com.:/"),
        ("ims_host", "http://[::1]:8080", "http://[::1]:0"),
        ("ims_host", "https://localhost:8443", "https://local host:8443"),
        ("token_url", "https://ims.example.com/t?c=x", "https://ims.exa mple.com/t?c=x"),
        ("cache", "redis://127.0.0.1:6379/0", "redis://127.0.0..1:6379/0"),
        ("cache", "rediss://:pass@redis.example.com:6380/1", "rediss://:pass@redis-.example.com/1"),
        ("cache", "unix:///tmp/redis.sock", "unix://"),
    ],
)
def test_good_urls_build_and_their_near_misses_do_not(key: str, good: str, bad: str) -> None:
    with imstoken.from_config(oauth(**{key: good})) as provider:
        assert provider.credential == "oauth"
    refused(oauth(**{key: bad}), key)


# -------------------------------------------------- 15: values that travel in headers and forms


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (oauth(client_id="client\r\nX-Injected: 1"), "client_id"),
        (oauth(client_id="client-\x00"), "client_id"),
        (oauth(client_id="clïent"), "client_id"),  # x-api-key: a header is ASCII
        (oauth(org_id="ABC\n123@AdobeOrg"), "org_id"),
        (oauth(org_id="ÄBC@AdobeOrg"), "org_id"),
        (oauth(scopes=["openid", "Adobe\r\nID"]), "scopes"),
        (oauth(scopes="openid,Adobe\x7fID"), "scopes"),
        (oauth(client_secret="s3cr3t-\nvalue-never-shown"), "client_secret"),
        (
            oauth(client_secrets=["s3cr3t-\tvalue-never-shown"], client_secret=None),
            "client_secrets",
        ),
        (oauth(cache_prefix="app\nprefix"), "cache_prefix"),
        (jwt(technical_account_id="TECH\r\n123@techacct.adobe.com"), "technical_account_id"),
        (jwt(metascopes=["ent_\u2028analytics"]), "metascopes"),
        (standard(audience="https://login.example.com\n/x"), "audience"),
        (standard(subject="user\x1b[31m"), "subject"),
        (standard(resource="https://api.example.com/\r\nx"), "resource"),
        (standard(extra_params={"tenant": "a\r\nb"}), "extra_params.tenant"),
    ],
)
def test_control_characters_are_refused_when_the_provider_is_built(
    config: dict[str, Any], key: str
) -> None:
    config = {k: v for k, v in config.items() if v is not None}
    error = refused(config, key)
    assert "s3cr3t" not in str(error)
    assert "control character" in str(error) or "ASCII" in str(error)


# -------------------------------------------------------------------- 16: any parser failure


def test_deeply_nested_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply") as caught:
        imstoken.from_file(path)
    assert str(path) in str(caught.value)


def test_deeply_nested_inline_tables_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "{a = " * 5_000 + "1" + "}" * 5_000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.toml"):
        imstoken.from_file(path)


def test_any_other_toml_parser_failure_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(text: str) -> dict[str, Any]:
        raise OverflowError("the parser gave up")

    monkeypatch.setattr(tomllib, "loads", explode)
    path = tmp_path / "ims.toml"
    path.write_text('credential = "oauth"\n')
    with pytest.raises(ConfigError, match="OverflowError") as caught:
        imstoken.from_file(path)
    assert str(path) in str(caught.value)


# ------------------------------------------------------- 17: wrong types, from env and mappings


@pytest.mark.parametrize("variable", sorted(ENV_VARS.values()))
@pytest.mark.parametrize("value", [30, 1.5, True, ["x"], {"env": "X"}])
def test_a_non_string_environment_value_is_a_config_error_naming_the_variable(
    variable: str, value: Any
) -> None:
    environ = {"IMS_CREDENTIAL": "oauth", "IMS_CLIENT_ID": "client-1", variable: value}
    with pytest.raises(ConfigError) as caught:
        imstoken.from_env(environ)
    assert caught.value.env_var == variable
    assert variable in str(caught.value)


def test_the_issue_case_ims_timeout_30() -> None:
    with pytest.raises(ConfigError, match="IMS_TIMEOUT"):
        imstoken.from_env(environ={"IMS_TIMEOUT": 30})  # type: ignore[dict-item]


def test_non_string_variable_names_and_non_mappings_are_handled() -> None:
    environ: dict[Any, Any] = {1: "x", ("IMS", "X"): "y", "IMS_CREDENTIAL": "oauth"}
    with pytest.raises(ConfigError, match="client_id"):
        imstoken.from_env(environ)
    with pytest.raises(ConfigError, match="mapping"):
        imstoken.from_env([("IMS_CREDENTIAL", "oauth")])  # type: ignore[arg-type]


WRONG_TYPES: list[Any] = [["x"], {"a": 1}, 42, 1.5, True, b"x", ("x",), {"env": 3}, object()]


@pytest.mark.filterwarnings("ignore:Adobe retired Service Account:DeprecationWarning")
@pytest.mark.parametrize("make", [oauth, jwt, standard], ids=["oauth", "jwt", "standard"])
def test_every_key_with_every_wrong_type_is_a_config_error_or_builds(make: Any) -> None:
    """A sweep over the schema: wrong types never escape as TypeError or AttributeError."""
    outcomes = {"refused": 0, "built": 0}
    texts: list[str] = []
    for name in sorted(KNOWN_KEYS | set(ALIASES)):
        for value in WRONG_TYPES:
            config = make()
            config.pop(ALIASES.get(name, name), None)
            config[name] = value
            try:
                imstoken.from_config(config).close()
            except ConfigError as error:
                outcomes["refused"] += 1
                texts.append(str(error))
            else:
                outcomes["built"] += 1
            if name in ENV_VARS:
                environ = {"IMS_CREDENTIAL": "oauth", "IMS_CLIENT_ID": "c", ENV_VARS[name]: value}
                with pytest.raises(ConfigError):
                    imstoken.from_env(environ)
    assert outcomes["refused"] > len(KNOWN_KEYS)
    assert not [text for text in texts if SECRET in text]


# ------------------------------------------------------ issue 15, 2: "did you mean" in the error


def write(tmp_path: Path, text: str, name: str = "ims.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_misspelt_key_is_named_in_the_missing_key_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'credential = "oauth"\nclient_id = "c"\nclient_secrte = "{SECRET}"\n'
        f'org_id = "{ORG}"\nscopes = ["openid"]\n',
    )
    with pytest.raises(ConfigError) as caught:
        imstoken.from_file(path)
    text = str(caught.value)
    assert caught.value.key == "client_secret"
    assert "did you mean 'client_secret' for the unknown key 'client_secrte'" in text
    assert SECRET not in text


def test_a_misspelt_table_is_named_in_the_missing_key_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'credential = "oauth"\nclient_id = "c"\nclient_secret = "{SECRET}"\n'
        f'org_id = "{ORG}"\n[oauht]\nscopes = ["openid"]\n',
    )
    with pytest.raises(ConfigError) as caught:
        imstoken.from_file(path)
    assert caught.value.key == "scopes"
    assert "did you mean [oauth] for the unknown table [oauht]" in str(caught.value)


def test_a_misspelt_key_in_a_mapping_and_an_alias_are_hinted() -> None:
    config = oauth(client_id=None, clientid="c", client_secret=None, client_secrtes=[SECRET])
    config = {k: v for k, v in config.items() if v is not None}
    error = refused(config, "client_id")
    assert "unknown key 'clientid'" in str(error)
    error = refused({**oauth(credential=None), "credentail": "oauth"}, "credential")
    assert "unknown key 'credentail'" in str(error)


def test_a_misspelt_variable_is_named_in_the_missing_key_error() -> None:
    environ = {"IMS_CREDENTIAL": "oauth", "IMS_CLIENT_ID": "c", "IMS_CLIENT_SECRTE": SECRET}
    with pytest.raises(ConfigError) as caught:
        imstoken.from_env(environ)
    text = str(caught.value)
    assert "did you mean IMS_CLIENT_SECRET for the unknown variable IMS_CLIENT_SECRTE" in text
    assert SECRET not in text


def test_the_unknown_table_warning_says_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="imstoken")
    with pytest.raises(ConfigError):
        imstoken.from_config({**oauth(scopes=None), "oauht": {"scopes": ["openid"]}})
    assert "unknown table [oauht] (did you mean [oauth]?)" in caplog.text


# ---------------------------------------------------- issue 15, 3: the source that applies


def test_errors_from_a_file_name_the_file_and_table_not_a_variable(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'credential = "oauth"\nclient_id = "c"\nclient_secret = "{SECRET}"\n'
        f'org_id = "{ORG}"\n[oauth]\norg_id = "not-an-org"\nscopes = ["openid"]\n',
    )
    with pytest.raises(ConfigError) as caught:
        imstoken.from_file(path)
    error = caught.value
    assert error.key == "org_id"
    assert error.env_var is None
    assert "IMS_" not in str(error)
    assert str(path) in str(error)
    assert "table [oauth]" in str(error)


def test_a_top_level_key_and_a_missing_key_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'credential = "oauth"\nclient_id = "c"\ntimeout = "soon"\n')
    with pytest.raises(ConfigError) as caught:
        imstoken.from_file(path)
    assert "top level" in str(caught.value)
    assert "IMS_" not in str(caught.value)
    path = write(tmp_path, 'credential = "oauth"\n', name="empty.toml")
    with pytest.raises(ConfigError) as caught:
        imstoken.from_file(path)
    assert str(caught.value) == f"'client_id' (in {path}): is missing"


def test_errors_from_a_mapping_name_the_key_and_from_the_environment_the_variable() -> None:
    error = refused(oauth(org_id="not-an-org"), "org_id")
    assert str(error) == "'org_id': must end with @AdobeOrg"
    assert error.reason == "must end with @AdobeOrg"
    assert error.env_var is None
    with pytest.raises(ConfigError) as caught:
        imstoken.from_env({"IMS_CREDENTIAL": "oauth", "IMS_CLIENT_ID": "c", "IMS_ORG_ID": "x"})
    assert caught.value.env_var == "IMS_CLIENT_SECRET"
    assert "(env IMS_CLIENT_SECRET)" in str(caught.value)


def test_env_references_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'credential = "oauth"\nclient_id = "c"\n'
        'client_secret = { env = "IMS_TEST_UNSET_SECRET_9" }\n',
    )
    with pytest.raises(ConfigError) as caught:
        imstoken.from_file(path)
    assert str(path) in str(caught.value)


# ------------------------------------------------ issue 15, 4: the key file and its passphrase


def test_a_missing_key_file_shows_the_path_it_resolved_to(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'credential = "jwt"\nclient_id = "c"\nclient_secret = "{SECRET}"\norg_id = "{ORG}"\n'
        f'ims_host = "{LOCAL}"\n[jwt]\ntechnical_account_id = "{TECH}"\nmetascopes = ["m"]\n'
        'private_key_path = "keys/private.key"\n',
    )
    with pytest.raises(ConfigError) as caught:
        imstoken.from_file(path)
    assert str(tmp_path / "keys" / "private.key") in str(caught.value)
    assert "table [jwt]" in str(caught.value)


def test_a_missing_key_file_under_home_shows_the_expanded_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    error = refused(jwt(private_key=None, private_key_path="~/ims/private.key"), "private_key_path")
    assert str(tmp_path / "ims" / "private.key") in str(error)


def test_a_relative_key_path_from_a_mapping_shows_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    error = refused(jwt(private_key=None, private_key_path="private.key"), "private_key_path")
    assert os.path.join(os.getcwd(), "private.key") in str(error)


def test_an_encrypted_key_without_passphrase_says_the_key_is_encrypted(tmp_path: Path) -> None:
    key_file = tmp_path / "private.key"
    key_file.write_text(pem(passphrase="pass-RIGHT-9f"))
    error = refused(jwt(private_key=None, private_key_path=str(key_file)), "private_key_passphrase")
    assert f"the private key in {key_file} is encrypted: set private_key_passphrase" in str(error)
    assert "needs a passphrase" not in str(error)


def test_errors_in_a_developer_console_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "console.json"
    path.write_text('{"project": {"org": {}}}')
    with pytest.raises(ConfigError) as caught:
        imstoken.from_file(path)
    assert caught.value.key == "project.org.ims_org_id"
    assert f"(in {path})" in str(caught.value)
