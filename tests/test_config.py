"""Configuration: keys, aliases, the [jwt]/[oauth] tables, env variables, files, key loading."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import imstoken
from imstoken import ConfigError

from .keys import ec_pem, pem

SECRET = "s3cr3t-value-never-shown"
ORG = "ABCDEF123456@AdobeOrg"
TECH = "TECH123@techacct.adobe.com"


def oauth_config(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "credential": "oauth",
        "client_id": "client-1",
        "client_secret": SECRET,
        "org_id": ORG,
        "scopes": ["openid", "AdobeID"],
    }
    config.update(extra)
    return config


def jwt_config(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "credential": "jwt",
        "client_id": "client-1",
        "client_secret": SECRET,
        "org_id": ORG,
        "technical_account_id": TECH,
        "metascopes": ["ent_analytics_bulk_ingest_sdk"],
        "private_key": pem(),
        "ims_host": "http://127.0.0.1:1",  # not the production host: no retirement warning
    }
    config.update(extra)
    return config


def both_config(credential: str) -> dict[str, Any]:
    return {
        "credential": credential,
        "client_id": "client-1",
        "client_secret": SECRET,
        "org_id": ORG,
        "ims_host": "http://127.0.0.1:1",
        "oauth": {"scopes": ["openid", "AdobeID"]},
        "jwt": {
            "technical_account_id": TECH,
            "private_key": pem(),
            "metascopes": ["ent_analytics_bulk_ingest_sdk"],
        },
    }


def test_oauth_defaults_to_the_production_v3_endpoint() -> None:
    provider = imstoken.from_config(oauth_config())
    assert provider.credential == "oauth"
    assert provider.token_url == "https://ims-na1.adobelogin.com/ims/token/v3"


def test_jwt_uses_the_exchange_endpoint_of_the_configured_host() -> None:
    provider = imstoken.from_config(jwt_config())
    assert provider.credential == "jwt"
    assert provider.token_url == "http://127.0.0.1:1/ims/exchange/jwt"


def test_stage_environment_picks_the_stage_host() -> None:
    provider = imstoken.from_config(oauth_config(ims_env="stage"))
    assert provider.token_url == "https://ims-na1-stg1.adobelogin.com/ims/token/v3"


def test_token_url_overrides_the_host() -> None:
    provider = imstoken.from_config(oauth_config(token_url="https://proxy.example/token"))
    assert provider.token_url == "https://proxy.example/token"


@pytest.mark.parametrize("credential", ["jwt", "oauth"])
def test_one_file_holds_both_credentials_and_the_flag_picks_one(credential: str) -> None:
    provider = imstoken.from_config(both_config(credential))
    assert provider.credential == credential


def test_credential_argument_overrides_the_mapping() -> None:
    assert imstoken.from_config(both_config("jwt"), credential="oauth").credential == "oauth"


def test_the_two_credentials_never_share_a_cache_key() -> None:
    jwt = imstoken.from_config(both_config("jwt"))
    oauth = imstoken.from_config(both_config("oauth"))
    assert jwt.cache_key != oauth.cache_key


def test_cache_key_does_not_depend_on_or_contain_the_secret() -> None:
    one = imstoken.from_config(oauth_config())
    two = imstoken.from_config(oauth_config(client_secret="another-secret"))
    assert one.cache_key == two.cache_key
    assert SECRET not in one.cache_key


def test_cache_key_differs_by_scopes() -> None:
    one = imstoken.from_config(oauth_config())
    two = imstoken.from_config(oauth_config(scopes=["openid"]))
    assert one.cache_key != two.cache_key


def test_backend_table_may_override_shared_keys() -> None:
    config = both_config("oauth")
    config["oauth"]["client_id"] = "other-client"
    provider = imstoken.from_config(config)
    assert provider.headers is not None
    assert provider.cache_key != imstoken.from_config(both_config("oauth")).cache_key


def test_aio_lib_ims_and_console_names_are_accepted() -> None:
    provider = imstoken.from_config(
        {
            "authentication_method": "jwt",
            "client_id": "client-1",
            "client_secrets": [SECRET, "older"],
            "ims_org_id": ORG,
            "technical_account_id": TECH,
            "technical_account_email": "x@techacct.adobe.com",
            "meta_scopes": ["ent_analytics_bulk_ingest_sdk"],
            "private_key": pem(passphrase="pw"),
            "passphrase": "pw",
            "ims_host": "http://localhost:9",
        }
    )
    assert provider.credential == "jwt"


def test_a_key_given_twice_under_two_names_is_an_error() -> None:
    with pytest.raises(ConfigError, match="org_id"):
        imstoken.from_config(oauth_config(ims_org_id=ORG))


def test_scopes_may_be_a_comma_separated_string_with_spaces() -> None:
    one = imstoken.from_config(oauth_config(scopes=" openid , AdobeID "))
    two = imstoken.from_config(oauth_config(scopes=["openid", "AdobeID"]))
    assert one.cache_key == two.cache_key


@pytest.mark.parametrize(
    ("config", "key", "env"),
    [
        (
            {k: v for k, v in oauth_config().items() if k != "client_id"},
            "client_id",
            "IMS_CLIENT_ID",
        ),
        (
            {k: v for k, v in oauth_config().items() if k != "client_secret"},
            "client_secret",
            "IMS_CLIENT_SECRET",
        ),
        ({k: v for k, v in oauth_config().items() if k != "org_id"}, "org_id", "IMS_ORG_ID"),
        ({k: v for k, v in oauth_config().items() if k != "scopes"}, "scopes", "IMS_SCOPES"),
        (oauth_config(scopes=[]), "scopes", "IMS_SCOPES"),
        (oauth_config(scopes=" , "), "scopes", "IMS_SCOPES"),
        (oauth_config(scopes=[1, 2]), "scopes", "IMS_SCOPES"),
        (oauth_config(client_id=42), "client_id", "IMS_CLIENT_ID"),
        (oauth_config(client_id="  "), "client_id", "IMS_CLIENT_ID"),
        (oauth_config(credential="saml"), "credential", "IMS_CREDENTIAL"),
        (oauth_config(credential=None), "credential", "IMS_CREDENTIAL"),
        (oauth_config(org_id="not-an-org"), "org_id", "IMS_ORG_ID"),
        (oauth_config(ims_host="http://ims.example.com"), "ims_host", "IMS_HOST"),
        (oauth_config(ims_host="ftp://127.0.0.1"), "ims_host", "IMS_HOST"),
        (oauth_config(ims_host="https://user:pw@ims.example.com"), "ims_host", "IMS_HOST"),
        (oauth_config(token_url="http://10.0.0.1/token"), "token_url", "IMS_TOKEN_URL"),
        (oauth_config(timeout=0), "timeout", "IMS_TIMEOUT"),
        (oauth_config(timeout="soon"), "timeout", "IMS_TIMEOUT"),
        (oauth_config(timeout=True), "timeout", "IMS_TIMEOUT"),
        (oauth_config(deadline=float("nan")), "deadline", "IMS_DEADLINE"),
        (oauth_config(profile="okta"), "profile", "IMS_PROFILE"),
        (oauth_config(cache="memcached://x"), "cache", "IMS_CACHE"),
        (jwt_config(technical_account_id=None), "technical_account_id", "IMS_TECHNICAL_ACCOUNT_ID"),
        (jwt_config(technical_account_id="me@example.com"), "technical_account_id", None),
        (jwt_config(metascopes=[]), "metascopes", "IMS_METASCOPES"),
        (jwt_config(private_key=None), "private_key_path", "IMS_PRIVATE_KEY_PATH"),
        (jwt_config(private_key="not a key"), "private_key", "IMS_PRIVATE_KEY"),
        (
            jwt_config(private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            "private_key",
            "IMS_PRIVATE_KEY",
        ),
        (jwt_config(private_key=ec_pem()), "private_key", "IMS_PRIVATE_KEY"),
        (
            jwt_config(
                private_key=pem(passphrase="pass-RIGHT-9f"), private_key_passphrase="pass-WRONG-3c"
            ),
            "private_key_passphrase",
            "IMS_PRIVATE_KEY_PASSPHRASE",
        ),
        (
            jwt_config(private_key=pem(passphrase="pass-RIGHT-9f")),
            "private_key_passphrase",
            "IMS_PRIVATE_KEY_PASSPHRASE",
        ),
        (
            jwt_config(private_key=None, private_key_path="/nonexistent/key.pem"),
            "private_key_path",
            "IMS_PRIVATE_KEY_PATH",
        ),
    ],
)
def test_bad_config_raises_config_error_naming_the_key(
    config: dict[str, Any], key: str, env: str | None
) -> None:
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        imstoken.from_config(config)
    error = caught.value
    assert error.key == key
    assert key in str(error)
    # A mapping handed to from_config did not come from the environment: no variable named.
    assert error.env_var is None
    if env:
        assert env not in str(error)
    assert SECRET not in str(error)
    assert "pass-RIGHT-9f" not in str(error)
    assert "pass-WRONG-3c" not in str(error)


def test_config_error_never_shows_the_bad_value() -> None:
    with pytest.raises(ConfigError) as caught:
        imstoken.from_config(oauth_config(ims_host="http://secret-host-name.example"))
    assert "secret-host-name" not in str(caught.value)


def test_loopback_http_is_allowed_for_tests() -> None:
    for host in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"):
        assert imstoken.from_config(oauth_config(ims_host=host)).token_url.startswith(host)


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_private_keys_load_in_pkcs1_and_pkcs8(fmt: str) -> None:
    assert imstoken.from_config(jwt_config(private_key=pem(fmt))).credential == "jwt"


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_encrypted_private_keys_load_with_their_passphrase(fmt: str) -> None:
    config = jwt_config(private_key=pem(fmt, passphrase="pw"), private_key_passphrase="pw")
    assert imstoken.from_config(config).credential == "jwt"


def test_pem_with_escaped_newlines_from_an_env_variable_loads() -> None:
    escaped = pem().replace("\n", "\\n")
    assert imstoken.from_config(jwt_config(private_key=escaped)).credential == "jwt"


def test_relative_key_path_in_a_mapping_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "k.pem").write_text(pem())
    monkeypatch.chdir(tmp_path)
    config = jwt_config(private_key=None, private_key_path="k.pem")
    del config["private_key"]
    assert imstoken.from_config(config).credential == "jwt"


def test_relative_key_path_in_a_file_resolves_against_the_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "secrets").mkdir()
    (folder / "secrets" / "private.key").write_text(pem())
    (folder / "ims.toml").write_text(
        f"""
credential = "jwt"
client_id = "client-1"
client_secret = "{SECRET}"
org_id = "{ORG}"
ims_host = "http://127.0.0.1:1"

[oauth]
scopes = ["openid"]

[jwt]
technical_account_id = "{TECH}"
private_key_path = "secrets/private.key"
metascopes = ["ent_analytics_bulk_ingest_sdk"]
"""
    )
    monkeypatch.chdir(tmp_path)  # not the file's folder
    assert imstoken.from_file(folder / "ims.toml").credential == "jwt"
    assert imstoken.from_file(str(folder / "ims.toml"), credential="oauth").credential == "oauth"


def test_json_files_load(tmp_path: Path) -> None:
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(oauth_config()))
    assert imstoken.from_file(path).credential == "oauth"


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("ims.toml", "credential = ", "TOML"),
        ("ims.json", "{not json", "JSON"),
        ("ims.json", "[1, 2]", "JSON object"),
        ("ims.yaml", "credential: oauth", ".toml or .json"),
    ],
)
def test_unreadable_files_raise_config_error(
    tmp_path: Path, name: str, content: str, needle: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        imstoken.from_file(path)


def test_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        imstoken.from_file(tmp_path / "nope.toml")


def test_from_env_reads_ims_variables() -> None:
    environ = {
        "IMS_CREDENTIAL": "oauth",
        "IMS_CLIENT_ID": "client-1",
        "IMS_CLIENT_SECRET": SECRET,
        "IMS_ORG_ID": ORG,
        "IMS_SCOPES": "openid, AdobeID ,read_organizations",
        "IMS_HOST": "http://127.0.0.1:5",
    }
    provider = imstoken.from_env(environ=environ)
    assert provider.credential == "oauth"
    assert provider.token_url == "http://127.0.0.1:5/ims/token/v3"
    reference = imstoken.from_config(
        oauth_config(
            ims_host="http://127.0.0.1:5", scopes=["openid", "AdobeID", "read_organizations"]
        )
    )
    assert provider.cache_key == reference.cache_key


def test_from_env_jwt_with_key_path_and_metascopes(tmp_path: Path) -> None:
    key = tmp_path / "private.key"
    key.write_text(pem(passphrase="pw"))
    environ = {
        "IMS_CREDENTIAL": "jwt",
        "IMS_CLIENT_ID": "client-1",
        "IMS_CLIENT_SECRET": SECRET,
        "IMS_ORG_ID": ORG,
        "IMS_TECHNICAL_ACCOUNT_ID": TECH,
        "IMS_PRIVATE_KEY_PATH": str(key),
        "IMS_PRIVATE_KEY_PASSPHRASE": "pw",
        "IMS_METASCOPES": "ent_analytics_bulk_ingest_sdk, ent_reactor_sdk",
        "IMS_HOST": "http://127.0.0.1:5",
    }
    assert imstoken.from_env(environ=environ).credential == "jwt"


def test_from_env_names_the_missing_variable() -> None:
    with pytest.raises(ConfigError, match="IMS_CLIENT_SECRET"):
        imstoken.from_env(
            environ={"IMS_CREDENTIAL": "oauth", "IMS_CLIENT_ID": "x", "IMS_ORG_ID": ORG}
        )


def test_from_env_with_nothing_set_says_so() -> None:
    with pytest.raises(ConfigError, match="IMS_"):
        imstoken.from_env(environ={})


def test_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("IMS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IMS_CREDENTIAL", "oauth")
    monkeypatch.setenv("IMS_CLIENT_ID", "client-1")
    monkeypatch.setenv("IMS_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("IMS_ORG_ID", ORG)
    monkeypatch.setenv("IMS_SCOPES", "openid")
    assert imstoken.from_env().credential == "oauth"


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError):
        imstoken.from_config(["credential", "oauth"])  # type: ignore[arg-type]


def test_unknown_keys_are_ignored_with_a_hint(caplog: pytest.LogCaptureFixture) -> None:
    imstoken.from_config(oauth_config(client_secert="typo"))
    assert "client_secret" in caplog.text
    assert "typo" not in caplog.text


def test_settings_repr_never_shows_secrets() -> None:
    from imstoken._config import build_settings

    settings = build_settings(jwt_config(private_key=pem(passphrase="pp-77"), passphrase="pp-77"))
    text = repr(settings)
    assert SECRET not in text
    assert "pp-77" not in text
    assert "BEGIN" not in text


def test_a_key_is_loaded_once_for_many_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    from imstoken._config import _keys

    calls: list[int] = []
    real = _keys._load

    def counting(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_keys, "_load", counting)
    monkeypatch.setattr(_keys, "_loaded", type(_keys._loaded)(maxsize=64))
    config = jwt_config(private_key=pem("pkcs1"))
    for _ in range(10):
        imstoken.from_config(config)
    assert len(calls) == 1


def test_a_failed_key_load_is_not_cached() -> None:
    config = jwt_config(private_key=pem(passphrase="pw-1"), private_key_passphrase="bad")
    for _ in range(2):
        with pytest.raises(ConfigError, match="private_key_passphrase"):
            imstoken.from_config(config)
    assert imstoken.from_config({**config, "private_key_passphrase": "pw-1"}).credential == "jwt"


def test_env_references_of_the_unused_credential_are_not_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After the cut-over the JWT credential's variables may be gone: the OAuth one must work.
    monkeypatch.setenv("IMS_TEST_OAUTH_SECRET", SECRET)
    monkeypatch.delenv("IMS_TEST_JWT_PASSPHRASE", raising=False)
    config = both_config("oauth")
    config["client_secret"] = {"env": "IMS_TEST_OAUTH_SECRET"}
    config["jwt"]["private_key_passphrase"] = {"env": "IMS_TEST_JWT_PASSPHRASE"}
    assert imstoken.from_config(config).credential == "oauth"
    with pytest.raises(ConfigError, match="IMS_TEST_JWT_PASSPHRASE"):
        imstoken.from_config(config, credential="jwt")


def test_a_table_override_makes_the_top_level_reference_unneeded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IMS_TEST_UNSET", raising=False)
    config = both_config("oauth")
    config["client_secret"] = {"env": "IMS_TEST_UNSET"}
    config["oauth"]["client_secret"] = SECRET
    assert imstoken.from_config(config).credential == "oauth"


@pytest.mark.parametrize(
    "host",
    [
        "https://ims-na1.adobelogin.com/ims/token/v3",
        "https://ims-na1.adobelogin.com/ims/exchange/jwt/",
        "http://127.0.0.1:5?x=1",
    ],
)
def test_a_token_url_or_query_given_as_ims_host_is_a_config_error(host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        imstoken.from_config(oauth_config(ims_host=host))
    assert caught.value.key == "ims_host"


def test_a_relative_cache_path_in_a_file_is_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imstoken._config import build_settings

    folder = tmp_path / "conf"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    settings = build_settings(oauth_config(cache_path="tokens"), base_dir=folder)
    assert settings.cache_path == str(folder / "tokens")


def test_unknown_ims_variables_are_reported_by_name(caplog: pytest.LogCaptureFixture) -> None:
    environ = {
        "IMS_CREDENTIAL": "oauth",
        "IMS_CLIENT_ID": "client-1",
        "IMS_CLIENT_SECRET": SECRET,
        "IMS_ORG_ID": ORG,
        "IMS_SCOPES": "openid",
        "IMS_CAHCE": "file-typo-value",
    }
    imstoken.from_env(environ=environ)
    assert "IMS_CAHCE" in caplog.text
    assert "IMS_CACHE" in caplog.text
    assert "file-typo-value" not in caplog.text
