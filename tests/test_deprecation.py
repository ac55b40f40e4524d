"""The retired-JWT DeprecationWarning: once per provider, only for Adobe JWT on production."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import imstoken
from imstoken._config import STAGE_HOST, Settings
from imstoken._deprecation import RETIRED_JWT_MESSAGE, is_adobe_production, warn_if_retired_jwt
from imstoken.testing import Credential, LocalIMS, generate_private_key

PRODUCTION = "https://ims-na1.adobelogin.com"


@pytest.fixture(scope="module")
def private_key() -> str:
    return generate_private_key()


def jwt_config(private_key: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "credential": "jwt",
        "client_id": "client",
        "client_secret": "p8e-not-a-real-secret",
        "org_id": "0123456789ABCDEF01234567@AdobeOrg",
        "technical_account_id": "ABCDEF0123456789ABCDEF01@techacct.adobe.com",
        "metascopes": ["ent_analytics_bulk_ingest_sdk"],
        "private_key": private_key,
    }
    config.update(extra)
    return config


def retired(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, DeprecationWarning)]


def test_jwt_against_production_warns_once_per_provider(private_key: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imstoken.from_config(jwt_config(private_key)).close()
        imstoken.from_config(jwt_config(private_key)).close()
    assert len(retired(caught)) == 2
    assert all(str(w.message) == RETIRED_JWT_MESSAGE for w in retired(caught))


def test_the_message_says_retired_when_and_how_to_flip() -> None:
    assert "retired" in RETIRED_JWT_MESSAGE
    assert "30 June 2025" in RETIRED_JWT_MESSAGE
    assert 'credential = "oauth"' in RETIRED_JWT_MESSAGE
    assert "[oauth]" in RETIRED_JWT_MESSAGE


def test_the_warning_points_at_the_callers_line(private_key: str, tmp_path: Path) -> None:
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(jwt_config(private_key)))
    for build in (
        lambda: imstoken.from_config(jwt_config(private_key)),
        lambda: imstoken.from_file(path),
        lambda: imstoken.from_env(
            {
                "IMS_CREDENTIAL": "jwt",
                "IMS_CLIENT_ID": "client",
                "IMS_CLIENT_SECRET": "p8e-not-a-real-secret",
                "IMS_ORG_ID": "0123456789ABCDEF01234567@AdobeOrg",
                "IMS_TECHNICAL_ACCOUNT_ID": "ABCDEF0123456789ABCDEF01@techacct.adobe.com",
                "IMS_METASCOPES": "ent_analytics_bulk_ingest_sdk",
                "IMS_PRIVATE_KEY": private_key,
            }
        ),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            build().close()
        (warning,) = retired(caught)
        # Not imstoken's own file: there the default filters would hide it from the app.
        assert warning.filename == __file__


def test_warning_is_shown_by_default_filters_in_a_script(private_key: str, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import imstoken, json, sys\nimstoken.from_config(json.loads(sys.stdin.read())).close()\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        input=json.dumps(jwt_config(private_key)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "DeprecationWarning" in done.stderr
    assert "app.py:2" in done.stderr
    assert "p8e-not-a-real-secret" not in done.stderr


def test_oauth_against_production_does_not_warn() -> None:
    config = {
        "credential": "oauth",
        "client_id": "client",
        "client_secret": "secret",
        "org_id": "0123456789ABCDEF01234567@AdobeOrg",
        "scopes": ["openid"],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imstoken.from_config(config).close()


def test_jwt_against_stage_does_not_warn(private_key: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imstoken.from_config(jwt_config(private_key, ims_host=STAGE_HOST)).close()


def test_jwt_against_a_local_ims_does_not_warn(ims: LocalIMS, cred: Credential) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with imstoken.from_config(cred.config("jwt")) as provider:
            assert provider.get_token().credential == "jwt"


def test_jwt_with_token_url_pointing_at_production_warns(private_key: str) -> None:
    config = jwt_config(
        private_key, ims_host=STAGE_HOST, token_url=PRODUCTION + "/ims/exchange/jwt"
    )
    with pytest.warns(DeprecationWarning, match="retired"):
        imstoken.from_config(config).close()


def test_a_config_holding_both_warns_only_when_jwt_is_chosen(private_key: str) -> None:
    config = jwt_config(private_key)
    config["oauth"] = {"scopes": ["openid"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imstoken.from_config(config, credential="oauth").close()
    with pytest.warns(DeprecationWarning, match="retired"):
        imstoken.from_config(config, credential="jwt").close()


def test_standard_profile_jwt_never_warns() -> None:
    settings = Settings(
        credential="jwt",
        profile="standard",
        client_id="client",
        token_url=PRODUCTION + "/ims/exchange/jwt",
        ims_host=PRODUCTION,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_retired_jwt(settings)


@pytest.mark.parametrize(
    ("url", "production"),
    [
        (PRODUCTION, True),
        ("https://IMS-NA1.adobelogin.com/", True),
        (PRODUCTION + "/ims/exchange/jwt", True),
        (STAGE_HOST, False),
        ("http://127.0.0.1:8080", False),
        ("https://adobelogin.com.example.net", False),
        ("https://ims.example.com", False),
    ],
)
def test_is_adobe_production(url: str, production: bool) -> None:
    assert is_adobe_production(url) is production


def test_the_cli_shows_the_retirement_notice(private_key: str, tmp_path: Path) -> None:
    # Adobe's production host in the config, but the exchange goes to a closed loopback port:
    # the notice is about the configuration, and no request may leave the machine.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = jwt_config(
        private_key,
        token_url=f"http://127.0.0.1:{port}/ims/exchange/jwt",
        timeout=0.3,
        deadline=0.6,
    )
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(config))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMS_")}
    for command, stream in (("token", "stderr"), ("check", "stdout")):
        done = subprocess.run(
            [sys.executable, "-m", "imstoken", command, "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=environ,
        )
        assert done.returncode == 1
        assert "Adobe retired Service Account (JWT) credentials" in getattr(done, stream)
        assert "p8e-not-a-real-secret" not in done.stdout + done.stderr
