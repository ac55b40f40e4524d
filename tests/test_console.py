"""Developer Console project JSON: mapping, conversion to TOML, and use through from_file."""

from __future__ import annotations

import json
import tomllib
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import imstoken
from imstoken._config import resolve_env_references
from imstoken._config._console import convert_console
from imstoken._config._console_project import console_to_config
from imstoken._config._toml import render_toml, toml_string
from imstoken.testing import Credential, LocalIMS, generate_private_key

ORG = "0123456789ABCDEF01234567@AdobeOrg"
TECH = "ABCDEF0123456789ABCDEF01@techacct.adobe.com"
SECRET = "p8e-console-secret-0123456789"


def jwt_block(
    client_id: str = "cid", secret: str = SECRET, tech: str = TECH, **extra: Any
) -> dict[str, Any]:
    block = {
        "client_id": client_id,
        "client_secret": secret,
        "technical_account_email": "robot@techacct.adobe.com",
        "technical_account_id": tech,
        "meta_scopes": ["ent_analytics_bulk_ingest_sdk"],
    }
    block.update(extra)
    return block


def oauth_block(
    client_id: str = "cid", secret: str = SECRET, tech: str = TECH, **extra: Any
) -> dict[str, Any]:
    block = {
        "client_id": client_id,
        "client_secrets": [secret],
        "technical_account_email": "robot@techacct.adobe.com",
        "technical_account_id": tech,
        "scopes": ["openid", "AdobeID", "read_organizations"],
    }
    block.update(extra)
    return block


def console_project(*credentials: dict[str, Any], org_id: str = ORG) -> dict[str, Any]:
    """A Developer Console "Download JSON" document with these credential entries."""
    return {
        "project": {
            "id": "1",
            "name": "cutover",
            "org": {"id": "2", "name": "Example", "ims_org_id": org_id},
            "workspace": {
                "id": "3",
                "name": "Production",
                "details": {"credentials": list(credentials), "services": []},
            },
        }
    }


def migrate_entry(jwt: dict[str, Any], oauth: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "9",
        "name": "migrated",
        "integration_type": "oauth_server_to_server_migrate",
        "jwt": jwt,
        "oauth_server_to_server": oauth,
    }


def service_entry(jwt: dict[str, Any]) -> dict[str, Any]:
    return {"id": "7", "name": "jwt", "integration_type": "service", "jwt": jwt}


def s2s_entry(oauth: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "8",
        "name": "oauth",
        "integration_type": "oauth_server_to_server",
        "oauth_server_to_server": oauth,
    }


def project_for(cred: Credential, integration_type: str = "migrate") -> dict[str, Any]:
    """A console project for a LocalIMS credential."""
    jwt = jwt_block(cred.client_id, cred.client_secret, cred.technical_account_id)
    jwt["meta_scopes"] = list(cred.metascopes)
    oauth = oauth_block(cred.client_id, cred.client_secret, cred.technical_account_id)
    oauth["scopes"] = list(cred.scopes)
    entry = {
        "migrate": migrate_entry(jwt, oauth),
        "service": service_entry(jwt),
        "oauth": s2s_entry(oauth),
    }[integration_type]
    return console_project(entry, org_id=cred.org_id)


# ---------------------------------------------------------------- mapping


def test_migrate_entry_maps_to_both_tables_with_shared_ids_on_top() -> None:
    config = console_to_config(
        console_project(migrate_entry(jwt_block(), oauth_block())), credential=None
    )
    assert config == {
        "credential": "oauth",
        "org_id": ORG,
        "client_id": "cid",
        "client_secret": SECRET,
        "jwt": {"technical_account_id": TECH, "metascopes": ["ent_analytics_bulk_ingest_sdk"]},
        "oauth": {"scopes": ["openid", "AdobeID", "read_organizations"]},
    }


def test_service_entry_alone_maps_to_jwt() -> None:
    config = console_to_config(console_project(service_entry(jwt_block())), credential=None)
    assert config["credential"] == "jwt"
    assert config["client_id"] == "cid"
    assert config["client_secret"] == SECRET
    assert set(config) == {"credential", "org_id", "client_id", "client_secret", "jwt"}


def test_oauth_entry_alone_uses_the_first_of_client_secrets() -> None:
    oauth = oauth_block(client_secrets=["first-secret", "second-secret"])
    config = console_to_config(console_project(s2s_entry(oauth)), credential=None)
    assert config["credential"] == "oauth"
    assert config["client_secret"] == "first-secret"
    assert "jwt" not in config


def test_separate_entries_of_both_kinds_are_combined() -> None:
    project = console_project(service_entry(jwt_block()), s2s_entry(oauth_block()))
    config = console_to_config(project, credential="jwt")
    assert config["credential"] == "jwt"
    assert {"jwt", "oauth"} <= set(config)


def test_different_ids_stay_in_their_tables() -> None:
    project = console_project(
        service_entry(jwt_block("old-id", "old-secret")),
        s2s_entry(oauth_block("new-id", "new-secret")),
    )
    config = console_to_config(project, credential=None)
    assert "client_id" not in config
    assert "client_secret" not in config
    assert config["jwt"]["client_id"] == "old-id"
    assert config["oauth"]["client_secret"] == "new-secret"


def test_other_integration_types_are_ignored() -> None:
    api_key = {"id": "5", "name": "key", "integration_type": "apikey", "api_key": {"x": 1}}
    config = console_to_config(console_project(api_key, s2s_entry(oauth_block())), credential=None)
    assert config["credential"] == "oauth"


def test_asking_for_a_credential_the_project_lacks_names_it() -> None:
    with pytest.raises(imstoken.ConfigError, match="no Service Account") as caught:
        console_to_config(console_project(s2s_entry(oauth_block())), credential="jwt")
    assert caught.value.key == "credential"


def test_credential_override_must_be_oauth_or_jwt() -> None:
    with pytest.raises(imstoken.ConfigError, match='"oauth" or "jwt"'):
        console_to_config(console_project(s2s_entry(oauth_block())), credential="basic")


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda p: p["project"].pop("org"), "project.org"),
        (lambda p: p["project"]["org"].pop("ims_org_id"), "project.org.ims_org_id"),
        (lambda p: p["project"]["org"].update(ims_org_id=42), "project.org.ims_org_id"),
        (lambda p: p["project"].pop("workspace"), "project.workspace"),
        (lambda p: p["project"]["workspace"].update(details=[]), "project.workspace.details"),
        (
            lambda p: p["project"]["workspace"]["details"].update(credentials={}),
            "project.workspace.details.credentials",
        ),
        (
            lambda p: p["project"]["workspace"]["details"]["credentials"].append("x"),
            "project.workspace.details.credentials[1]",
        ),
        (
            lambda p: p["project"]["workspace"]["details"]["credentials"][0].pop("jwt"),
            "project.workspace.details.credentials[0].jwt",
        ),
        (
            lambda p: p["project"]["workspace"]["details"]["credentials"][0][
                "oauth_server_to_server"
            ].pop("scopes"),
            "project.workspace.details.credentials[0].oauth_server_to_server.scopes",
        ),
        (
            lambda p: p["project"]["workspace"]["details"]["credentials"][0][
                "oauth_server_to_server"
            ].update(client_secrets=[]),
            "project.workspace.details.credentials[0].oauth_server_to_server.client_secrets",
        ),
        (
            lambda p: p["project"]["workspace"]["details"]["credentials"][0]["jwt"].update(
                technical_account_id=None
            ),
            "project.workspace.details.credentials[0].jwt.technical_account_id",
        ),
        (
            lambda p: p["project"]["workspace"]["details"]["credentials"][0]["jwt"].update(
                meta_scopes=["ok", 3]
            ),
            "project.workspace.details.credentials[0].jwt.meta_scopes[1]",
        ),
    ],
)
def test_malformed_console_json_names_the_path(mutate: Any, path: str) -> None:
    project = console_project(migrate_entry(jwt_block(), oauth_block()))
    mutate(project)
    with pytest.raises(imstoken.ConfigError) as caught:
        console_to_config(project, credential=None)
    assert caught.value.key == path
    assert "Developer Console" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_project_without_server_credentials_is_refused() -> None:
    with pytest.raises(imstoken.ConfigError, match="holds no OAuth Server-to-Server"):
        console_to_config(console_project(), credential=None)


def test_two_different_credentials_of_one_kind_are_refused_without_values() -> None:
    project = console_project(
        s2s_entry(oauth_block("one", "secret-one")), s2s_entry(oauth_block("two", "secret-two"))
    )
    with pytest.raises(imstoken.ConfigError, match="two different OAuth") as caught:
        console_to_config(project, credential=None)
    assert "secret-one" not in str(caught.value)
    assert "secret-two" not in str(caught.value)


def test_the_same_credential_listed_twice_is_fine() -> None:
    project = console_project(migrate_entry(jwt_block(), oauth_block()), s2s_entry(oauth_block()))
    assert console_to_config(project, credential=None)["credential"] == "oauth"


# ---------------------------------------------------------------- from_file


def both_project() -> dict[str, Any]:
    return console_project(migrate_entry(jwt_block(), oauth_block()))


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_from_file_reads_a_console_download_as_oauth_by_default(tmp_path: Path) -> None:
    path = write_json(tmp_path / "project.json", both_project())
    with imstoken.from_file(path) as provider:
        assert provider.credential == "oauth"
        assert provider.token_url == "https://ims-na1.adobelogin.com/ims/token/v3"


def test_from_file_console_jwt_needs_the_private_key(tmp_path: Path) -> None:
    path = write_json(tmp_path / "project.json", both_project())
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_file(path, credential="jwt")
    assert caught.value.key == "private_key_path"


def test_from_file_console_jwt_with_private_key_path_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_json(tmp_path / "project.json", both_project())
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "private.key").write_text(generate_private_key())
    monkeypatch.chdir(tmp_path)  # a relative override is relative to the working directory
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # production host: tested elsewhere
        with imstoken.from_file(path, credential="jwt", private_key_path="keys/private.key") as p:
            assert p.credential == "jwt"
            assert p.token_url == "https://ims-na1.adobelogin.com/ims/exchange/jwt"


def test_from_file_console_with_a_missing_key_file_names_private_key_path(tmp_path: Path) -> None:
    path = write_json(tmp_path / "project.json", console_project(service_entry(jwt_block())))
    with pytest.raises(imstoken.ConfigError, match="does not exist") as caught:
        imstoken.from_file(path, private_key_path=tmp_path / "nope.key")
    assert caught.value.key == "private_key_path"


def test_from_file_malformed_console_json_is_a_config_error(tmp_path: Path) -> None:
    project = console_project(migrate_entry(jwt_block(), oauth_block()))
    del project["project"]["org"]["ims_org_id"]
    path = write_json(tmp_path / "project.json", project)
    with pytest.raises(imstoken.ConfigError, match=r"project\.org\.ims_org_id"):
        imstoken.from_file(path)


# ---------------------------------------------------------------- convert / TOML


def test_converted_toml_round_trips_and_builds_both_providers(tmp_path: Path) -> None:
    key = tmp_path / "private.key"
    key.write_text(generate_private_key())
    conversion = convert_console(
        console_project(migrate_entry(jwt_block(), oauth_block())),
        private_key_path=key,
        ims_host="https://ims-na1-stg1.adobelogin.com",
        source="project.json",
    )
    config = tomllib.loads(conversion.text)
    assert config["credential"] == "oauth"
    assert config["client_secret"] == SECRET
    assert config["ims_host"] == "https://ims-na1-stg1.adobelogin.com"
    assert config["jwt"]["private_key_path"] == str(key)
    assert conversion.holds_secrets
    assert conversion.kinds == ("oauth", "jwt")
    for credential in ("oauth", "jwt"):
        with imstoken.from_config(config, credential=credential) as provider:
            assert provider.credential == credential


def test_convert_without_key_leaves_a_commented_placeholder_and_a_note() -> None:
    conversion = convert_console(
        console_project(migrate_entry(jwt_block(), oauth_block())), credential="jwt"
    )
    assert '# private_key_path = "private.key"' in conversion.text
    assert "private_key_path" not in tomllib.loads(conversion.text)["jwt"]
    assert any("no private key" in note for note in conversion.notes)


def test_convert_secrets_from_env_writes_references_not_secrets() -> None:
    conversion = convert_console(
        console_project(migrate_entry(jwt_block(), oauth_block())), secrets_from_env=True
    )
    assert SECRET not in conversion.text
    assert not conversion.holds_secrets
    assert tomllib.loads(conversion.text)["client_secret"] == {"env": "IMS_CLIENT_SECRET"}
    assert conversion.env_vars == ("IMS_CLIENT_SECRET",)


def test_convert_secrets_from_env_per_table_when_secrets_differ() -> None:
    project = console_project(
        service_entry(jwt_block("cid", "old-secret")), s2s_entry(oauth_block("cid", "new-secret"))
    )
    conversion = convert_console(project, secrets_from_env=True)
    config = tomllib.loads(conversion.text)
    assert config["client_id"] == "cid"
    assert config["jwt"]["client_secret"] == {"env": "IMS_JWT_CLIENT_SECRET"}
    assert config["oauth"]["client_secret"] == {"env": "IMS_OAUTH_CLIENT_SECRET"}
    assert "old-secret" not in conversion.text
    assert "new-secret" not in conversion.text


def test_convert_encrypted_key_references_the_passphrase_variable(tmp_path: Path) -> None:
    key = tmp_path / "private.key"
    key.write_text(generate_private_key(passphrase="correct horse"))
    conversion = convert_console(console_project(service_entry(jwt_block())), private_key_path=key)
    config = tomllib.loads(conversion.text)
    assert config["jwt"]["private_key_passphrase"] == {"env": "IMS_PRIVATE_KEY_PASSPHRASE"}
    assert "correct horse" not in conversion.text


def test_convert_refuses_a_private_key_without_a_jwt_credential(tmp_path: Path) -> None:
    key = tmp_path / "private.key"
    key.write_text(generate_private_key())
    with pytest.raises(imstoken.ConfigError, match="no Service Account"):
        convert_console(console_project(s2s_entry(oauth_block())), private_key_path=key)


def test_convert_refuses_a_missing_or_bad_key_file(tmp_path: Path) -> None:
    project = console_project(service_entry(jwt_block()))
    with pytest.raises(imstoken.ConfigError, match="does not exist"):
        convert_console(project, private_key_path=tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(imstoken.ConfigError, match="--private-key"):
        convert_console(project, private_key_path=bad)


def test_convert_source_name_cannot_break_the_toml() -> None:
    conversion = convert_console(
        console_project(s2s_entry(oauth_block())), source='evil\nclient_secret = "x"'
    )
    assert tomllib.loads(conversion.text)["client_secret"] == SECRET


@given(st.text())
def test_toml_strings_round_trip(text: str) -> None:
    assert tomllib.loads(f"value = {toml_string(text)}")["value"] == text


@given(
    st.dictionaries(
        st.text(min_size=1),
        st.one_of(st.text(), st.booleans(), st.integers(), st.lists(st.text())),
        max_size=5,
    )
)
def test_render_toml_round_trips_keys_and_values(table: dict[str, Any]) -> None:
    document = {"top": "value", "table": table}
    assert tomllib.loads(render_toml(document)) == document


# ---------------------------------------------------------------- { env = "NAME" } references


def test_env_reference_is_resolved_from_the_environment(
    ims: LocalIMS, cred: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_IMS_SECRET", cred.client_secret)
    config = cred.config("oauth", client_secret={"env": "MY_IMS_SECRET"})
    with imstoken.from_config(config) as provider:
        assert provider.get_token().credential == "oauth"


def test_env_reference_inside_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_OAUTH_CLIENT_SECRET", "from-env")
    config = {"client_id": "x", "oauth": {"client_secret": {"env": "IMS_OAUTH_CLIENT_SECRET"}}}
    assert resolve_env_references(config)["oauth"]["client_secret"] == "from-env"


def test_env_reference_to_an_unset_variable_names_key_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IMS_CLIENT_SECRET", raising=False)
    with pytest.raises(imstoken.ConfigError, match="IMS_CLIENT_SECRET") as caught:
        resolve_env_references({"client_secret": {"env": "IMS_CLIENT_SECRET"}})
    assert caught.value.key == "client_secret"


@pytest.mark.parametrize("value", [{"env": 3}, {"env": ""}, {"env": "A", "default": "x"}, {}])
def test_malformed_env_reference_is_a_config_error(value: dict[str, Any]) -> None:
    with pytest.raises(imstoken.ConfigError, match="env") as caught:
        resolve_env_references({"client_secret": value})
    assert caught.value.key == "client_secret"


def test_env_references_only_apply_to_secret_keys() -> None:
    config = {"extra_params": {"env": "NOT_A_REFERENCE"}}
    assert resolve_env_references(config, {})["extra_params"] == {"env": "NOT_A_REFERENCE"}


def test_from_file_resolves_env_references_in_toml(
    tmp_path: Path, ims: LocalIMS, cred: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMS_CLIENT_SECRET", cred.client_secret)
    conversion = convert_console(project_for(cred), ims_host=ims.url, secrets_from_env=True)
    path = tmp_path / "ims.toml"
    path.write_text(conversion.text)
    with imstoken.from_file(path) as provider:
        assert provider.get_token().access_token in ims.issued
