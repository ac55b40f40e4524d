"""The imstoken command line, end to end: a real subprocess against the local IMS.

Every run's stdout and stderr are checked for the client secret, the private key and every
token the local IMS issued (``check`` and ``convert`` must never print one).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import imstoken
from imstoken.testing import Credential, LocalIMS

from .test_console import console_project, oauth_block, project_for, s2s_entry

FAST = "timeout = 0.3\ndeadline = 0.6\n"  # IMS-down runs must fail fast


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def imstoken_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run ``python -m imstoken`` (the installed package) in a fresh process."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMS_")}
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "imstoken", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def assert_no_secrets(run: Run, ims: LocalIMS, *creds: Credential, tokens: bool = True) -> None:
    for cred in creds:
        assert cred.client_secret not in run.output
        assert cred.private_key is not None
        for line in cred.private_key.splitlines():
            if "-----" not in line:
                assert line not in run.output
    if tokens:
        for token in ims.issued:
            assert token not in run.output
            # Not even the signature part on its own.
            assert token.rsplit(".", 1)[1] not in run.output


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("imstoken: ")
    return lines[0]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def both_toml(
    cred: Credential,
    host: str,
    *,
    credential: str = "oauth",
    key_path: str = "private.key",
    jwt_cred: Credential | None = None,
    extra: str = "",
) -> str:
    """A config with an [oauth] and a [jwt] table (the JWT one may be another credential)."""
    jwt_cred = jwt_cred or cred
    return (
        f'credential = "{credential}"\n'
        f'org_id = "{cred.org_id}"\n'
        f'ims_host = "{host}"\n'
        f"{extra}"
        "\n[oauth]\n"
        f'client_id = "{cred.client_id}"\n'
        f'client_secret = "{cred.client_secret}"\n'
        f"scopes = {json.dumps(list(cred.scopes))}\n"
        "\n[jwt]\n"
        f'client_id = "{jwt_cred.client_id}"\n'
        f'client_secret = "{jwt_cred.client_secret}"\n'
        f'technical_account_id = "{jwt_cred.technical_account_id}"\n'
        f"metascopes = {json.dumps(list(jwt_cred.metascopes))}\n"
        f'private_key_path = "{key_path}"\n'
    )


# One server for the module: stopping a LocalIMS takes half a second.
@pytest.fixture(scope="module")
def module_ims() -> Iterator[LocalIMS]:
    with LocalIMS() as ims:
        yield ims


@pytest.fixture
def ims(module_ims: LocalIMS) -> LocalIMS:
    """The module's local IMS, with fresh counters (each test registers its own credential)."""
    module_ims.reset_counts()
    module_ims.clear_faults()
    return module_ims


@pytest.fixture
def workdir(tmp_path: Path, cred: Credential) -> Path:
    assert cred.private_key is not None
    (tmp_path / "private.key").write_text(cred.private_key)
    return tmp_path


@pytest.fixture
def config(workdir: Path, ims: LocalIMS, cred: Credential) -> Path:
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, ims.url))
    return path


def env_for(cred: Credential, ims: LocalIMS) -> dict[str, str]:
    return {
        "IMS_CREDENTIAL": "oauth",
        "IMS_CLIENT_ID": cred.client_id,
        "IMS_CLIENT_SECRET": cred.client_secret,
        "IMS_ORG_ID": cred.org_id,
        "IMS_SCOPES": ",".join(cred.scopes),
        "IMS_HOST": ims.url,
    }


# ---------------------------------------------------------------- imstoken token


def test_token_prints_the_access_token(ims: LocalIMS, cred: Credential, config: Path) -> None:
    run = imstoken_cli("token", "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() in ims.issued
    assert run.stderr == ""
    assert_no_secrets(run, ims, cred, tokens=False)


def test_token_json_has_exactly_token_type_expiry_and_credential(
    ims: LocalIMS, cred: Credential, config: Path
) -> None:
    run = imstoken_cli("token", "--config", str(config), "--json")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert set(document) == {"access_token", "token_type", "expires_at", "credential"}
    assert document["access_token"] in ims.issued
    assert document["token_type"].lower() == "bearer"
    assert document["credential"] == "oauth"
    assert document["expires_at"] > time.time() + 3600


def test_token_headers_are_ready_for_curl(ims: LocalIMS, cred: Credential, config: Path) -> None:
    run = imstoken_cli("token", "--config", str(config), "--headers")
    assert run.returncode == 0, run.stderr
    headers = dict(line.split(": ", 1) for line in run.stdout.splitlines())
    assert headers["Authorization"].removeprefix("Bearer ") in ims.issued
    assert headers["x-api-key"] == cred.client_id
    assert headers["x-gw-ims-org-id"] == cred.org_id


def test_token_credential_option_picks_the_jwt_table(
    ims: LocalIMS, cred: Credential, config: Path
) -> None:
    run = imstoken_cli("token", "--config", str(config), "--json", "--credential", "jwt")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["credential"] == "jwt"
    assert ims.count("jwt") == 1
    assert ims.count("oauth") == 0
    assert_no_secrets(run, ims, cred, tokens=False)


def test_token_from_environment_variables(ims: LocalIMS, cred: Credential) -> None:
    run = imstoken_cli("token", "--json", env=env_for(cred, ims))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["access_token"] in ims.issued


def test_token_without_config_or_environment_says_what_is_missing() -> None:
    run = imstoken_cli("token")
    assert run.returncode == 1
    assert "IMS_CLIENT_ID" in one_line(run.stderr)
    assert run.stdout == ""


def test_token_uses_the_configured_shared_cache_like_the_app(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    pytest.importorskip("imstoken._caches._file")
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, ims.url, extra=f'cache = "file"\ncache_path = "{workdir}"\n'))
    first = imstoken_cli("token", "--config", str(path))
    second = imstoken_cli("token", "--config", str(path))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    assert ims.count("oauth") == 1


def test_token_rejected_credential_is_one_line_with_the_ims_error(
    ims: LocalIMS, cred: Credential, config: Path
) -> None:
    ims.remove_credential(cred.client_id)
    run = imstoken_cli("token", "--config", str(config))
    assert run.returncode == 1
    assert run.stdout == ""
    line = one_line(run.stderr)
    assert "invalid_client" in line
    assert "x-debug-id=" in line
    assert_no_secrets(run, ims, cred)


def test_token_verbose_adds_detail_but_no_secrets(
    ims: LocalIMS, cred: Credential, config: Path
) -> None:
    ims.remove_credential(cred.client_id)
    run = imstoken_cli("token", "--config", str(config), "--verbose")
    assert run.returncode == 1
    assert "error class: imstoken.TokenRequestRefused" in run.stderr
    assert f"token endpoint: {ims.url}/ims/token/v3" in run.stderr
    assert "credential: oauth" in run.stderr
    assert "x-debug-id:" in run.stderr
    assert_no_secrets(run, ims, cred)


def test_token_verbose_logs_which_credential_fetched(
    ims: LocalIMS, cred: Credential, config: Path
) -> None:
    run = imstoken_cli("-v", "token", "--config", str(config), "--credential", "jwt")
    assert run.returncode == 0, run.stderr
    assert "imstoken: fetched jwt token in" in run.stderr
    assert_no_secrets(run, ims, cred, tokens=False)


def test_token_ims_down_fails_fast_in_one_line(cred: Credential, workdir: Path) -> None:
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, closed_port_url(), extra=FAST))
    started = time.monotonic()
    run = imstoken_cli("token", "--config", str(path))
    assert run.returncode == 1
    assert "could not be reached" in one_line(run.stderr)
    assert time.monotonic() - started < 15
    assert cred.client_secret not in run.output


def test_token_missing_config_file(tmp_path: Path) -> None:
    run = imstoken_cli("token", "--config", str(tmp_path / "nope.toml"))
    assert run.returncode == 1
    assert "does not exist" in one_line(run.stderr)


def test_token_missing_key_file_names_private_key_path(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, ims.url, credential="jwt", key_path="missing.key"))
    run = imstoken_cli("token", "--config", str(path))
    assert run.returncode == 1
    line = one_line(run.stderr)
    assert "private_key_path" in line
    assert "does not exist" in line
    assert ims.count() == 0  # refused before any request


# ---------------------------------------------------------------- imstoken check


def test_check_both_credentials_work_and_are_one_technical_account(
    ims: LocalIMS, cred: Credential, config: Path
) -> None:
    run = imstoken_cli("check", "--config", str(config))
    assert run.returncode == 0, run.output
    assert "[jwt] Service Account (JWT): ok" in run.stdout
    assert "[oauth] OAuth Server-to-Server (in use): ok" in run.stdout
    assert f"technical account (user_id): {cred.technical_account_id}" in run.stdout
    assert f"client_id: {cred.client_id}" in run.stdout
    assert f"org: {cred.org_id}" in run.stdout
    assert "WITHOUT verifying" in run.stdout
    assert "same technical account: yes" in run.stdout
    assert ims.count("jwt") == ims.count("oauth") == 1
    assert_no_secrets(run, ims, cred)


def test_check_mints_fresh_tokens_every_run(ims: LocalIMS, cred: Credential, config: Path) -> None:
    for _ in range(2):
        assert imstoken_cli("check", "--config", str(config)).returncode == 0
    assert ims.count("oauth") == 2


def test_check_reports_a_rejected_credential_and_fails(ims: LocalIMS, workdir: Path) -> None:
    # Registered for OAuth only: the JWT exchange is refused, as for a deleted JWT credential.
    cred = ims.add_credential(jwt=False)
    assert cred.private_key is not None
    (workdir / "private.key").write_text(cred.private_key)
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, ims.url))
    run = imstoken_cli("check", "--config", str(path))
    assert run.returncode == 1
    assert "[jwt] Service Account (JWT): FAILED" in run.stdout
    assert "error: invalid_client" in run.stdout
    assert "description: no JWT credential" in run.stdout
    assert "x-debug-id: " in run.stdout
    assert "x-debug-id: (none)" not in run.stdout
    assert "[oauth] OAuth Server-to-Server (in use): ok" in run.stdout
    assert "same technical account: unknown" in run.stdout
    assert "1 of 2 credential(s) FAILED" in run.stdout
    assert_no_secrets(run, ims, cred)


def test_check_ims_down_reports_both_and_fails(cred: Credential, workdir: Path) -> None:
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, closed_port_url(), extra=FAST))
    run = imstoken_cli("check", "--config", str(path))
    assert run.returncode == 1
    assert run.stdout.count(": FAILED") == 2
    assert run.stdout.count("could not be reached") == 2
    assert "2 of 2 credential(s) FAILED" in run.stdout
    assert run.stderr == ""
    assert cred.client_secret not in run.output


def test_check_missing_key_file_is_a_config_error_for_jwt_only(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, ims.url, key_path="missing.key"))
    run = imstoken_cli("check", "--config", str(path))
    assert run.returncode == 1
    assert "[jwt] Service Account (JWT): FAILED" in run.stdout
    assert "configuration error: 'private_key_path'" in run.stdout
    assert "[oauth] OAuth Server-to-Server (in use): ok" in run.stdout
    assert ims.count("jwt") == 0
    assert_no_secrets(run, ims, cred)


def test_check_private_key_option_overrides_the_config(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, ims.url, key_path="missing.key"))
    key = str(workdir / "private.key")
    run = imstoken_cli("check", "--config", str(path), "--private-key", key)
    assert run.returncode == 0, run.output


def test_check_tells_when_the_credentials_are_different_technical_accounts(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    other = ims.add_credential(org_id=cred.org_id)  # same org, another technical account
    assert other.private_key is not None
    (workdir / "other.key").write_text(other.private_key)
    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, ims.url, jwt_cred=other, key_path="other.key"))
    run = imstoken_cli("check", "--config", str(path))
    assert run.returncode == 0, run.output  # both work; the difference is reported
    assert "same technical account: NO" in run.stdout
    assert_no_secrets(run, ims, cred, other)


def test_check_a_flat_config_checks_its_one_credential(
    ims: LocalIMS, cred: Credential, tmp_path: Path
) -> None:
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(cred.config("jwt")))
    run = imstoken_cli("check", "--config", str(path))
    assert run.returncode == 0, run.output
    assert "1 credential(s)" in run.stdout
    assert "[jwt] Service Account (JWT) (in use): ok" in run.stdout
    assert "same technical account" not in run.stdout
    assert_no_secrets(run, ims, cred)


def test_check_from_environment_variables(ims: LocalIMS, cred: Credential) -> None:
    run = imstoken_cli("check", "-v", env=env_for(cred, ims))
    assert run.returncode == 0, run.output
    assert "[oauth] OAuth Server-to-Server (in use): ok" in run.stdout
    assert "fetched oauth token" in run.stderr  # --verbose shows the library's log lines
    assert_no_secrets(run, ims, cred)


# ---------------------------------------------------------------- imstoken convert


@pytest.fixture
def console_json(tmp_path: Path, cred: Credential) -> Path:
    path = tmp_path / "project.json"
    path.write_text(json.dumps(project_for(cred)))
    return path


def test_convert_writes_a_private_toml_that_check_and_token_accept(
    ims: LocalIMS, cred: Credential, workdir: Path, console_json: Path
) -> None:
    output = workdir / "converted.toml"
    run = imstoken_cli(
        "convert",
        str(console_json),
        "-o",
        str(output),
        "--private-key",
        str(workdir / "private.key"),
        "--ims-host",
        ims.url,
    )
    assert run.returncode == 0, run.output
    assert run.stdout == ""
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    written = tomllib.loads(output.read_text())
    assert written["credential"] == "oauth"
    assert written["client_secret"] == cred.client_secret
    assert {"jwt", "oauth"} <= set(written)
    assert_no_secrets(run, ims, cred)

    checked = imstoken_cli("check", "--config", str(output))
    assert checked.returncode == 0, checked.output
    assert "same technical account: yes" in checked.stdout
    assert_no_secrets(checked, ims, cred)

    token = imstoken_cli("token", "--config", str(output), "--json", "--credential", "jwt")
    assert json.loads(token.stdout)["credential"] == "jwt"


def test_convert_credential_option_sets_the_active_credential(
    ims: LocalIMS, cred: Credential, tmp_path: Path, console_json: Path
) -> None:
    output = tmp_path / "ims.toml"
    run = imstoken_cli("convert", str(console_json), "-o", str(output), "--credential", "jwt")
    assert run.returncode == 0, run.output
    assert tomllib.loads(output.read_text())["credential"] == "jwt"
    assert "no private key" in run.stderr  # the console file never has one
    assert_no_secrets(run, ims, cred)


def test_convert_refuses_to_print_secrets_to_the_terminal(
    ims: LocalIMS, cred: Credential, console_json: Path
) -> None:
    run = imstoken_cli("convert", str(console_json))
    assert run.returncode == 2
    assert run.stdout == ""
    assert "refusing to print client secrets" in one_line(run.stderr)
    assert_no_secrets(run, ims, cred)


def test_convert_secrets_from_env_prints_references_that_token_resolves(
    ims: LocalIMS, cred: Credential, tmp_path: Path, console_json: Path
) -> None:
    run = imstoken_cli("convert", str(console_json), "--secrets-from-env", "--ims-host", ims.url)
    assert run.returncode == 0, run.output
    assert 'client_secret = { env = "IMS_CLIENT_SECRET" }' in run.stdout
    assert "IMS_CLIENT_SECRET" in run.stderr
    assert_no_secrets(run, ims, cred)

    path = tmp_path / "ims.toml"
    path.write_text(run.stdout)
    missing = imstoken_cli("token", "--config", str(path))
    assert missing.returncode == 1
    assert "IMS_CLIENT_SECRET" in one_line(missing.stderr)
    ok = imstoken_cli("token", "--config", str(path), env={"IMS_CLIENT_SECRET": cred.client_secret})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() in ims.issued


def test_convert_does_not_overwrite_without_force(
    ims: LocalIMS, cred: Credential, tmp_path: Path, console_json: Path
) -> None:
    output = tmp_path / "ims.toml"
    output.write_text("# mine\n")
    output.chmod(0o644)
    run = imstoken_cli("convert", str(console_json), "-o", str(output))
    assert run.returncode == 2
    assert "--force" in one_line(run.stderr)
    assert output.read_text() == "# mine\n"

    forced = imstoken_cli("convert", str(console_json), "-o", str(output), "--force")
    assert forced.returncode == 0, forced.output
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert tomllib.loads(output.read_text())["client_id"] == cred.client_id
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert_no_secrets(forced, ims, cred)


def test_convert_invalid_json_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "project.json"
    path.write_text('{"project": {"org": ')
    run = imstoken_cli("convert", str(path), "-o", str(tmp_path / "out.toml"))
    assert run.returncode == 1
    assert "not valid JSON" in one_line(run.stderr)
    assert not (tmp_path / "out.toml").exists()


def test_convert_malformed_console_json_names_the_path_not_the_secret(
    ims: LocalIMS, cred: Credential, tmp_path: Path
) -> None:
    project = project_for(cred)
    del project["project"]["workspace"]["details"]["credentials"][0]["jwt"]["client_id"]
    path = tmp_path / "project.json"
    path.write_text(json.dumps(project))
    run = imstoken_cli("convert", str(path), "-o", str(tmp_path / "out.toml"), "--verbose")
    assert run.returncode == 1
    assert "project.workspace.details.credentials[0].jwt.client_id" in run.stderr
    assert "is missing" in run.stderr
    assert not (tmp_path / "out.toml").exists()
    assert_no_secrets(run, ims, cred)


def test_convert_refuses_a_json_that_is_not_a_console_project(
    cred: Credential, tmp_path: Path
) -> None:
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(cred.config("oauth")))
    run = imstoken_cli("convert", str(path), "-o", str(tmp_path / "out.toml"))
    assert run.returncode == 1
    assert "not a Developer Console project" in one_line(run.stderr)
    assert cred.client_secret not in run.output


def test_convert_missing_key_file(
    ims: LocalIMS, cred: Credential, tmp_path: Path, console_json: Path
) -> None:
    output = tmp_path / "out.toml"
    run = imstoken_cli(
        "convert", str(console_json), "-o", str(output), "--private-key", str(tmp_path / "no.key")
    )
    assert run.returncode == 1
    assert "does not exist" in one_line(run.stderr)
    assert not output.exists()


def test_convert_credential_the_project_lacks(cred: Credential, tmp_path: Path) -> None:
    path = tmp_path / "project.json"
    path.write_text(json.dumps(console_project(s2s_entry(oauth_block()))))
    run = imstoken_cli("convert", str(path), "-o", str(tmp_path / "o.toml"), "--credential", "jwt")
    assert run.returncode == 1
    assert "no Service Account (JWT) credential" in one_line(run.stderr)


def test_token_reads_a_console_json_and_names_a_missing_credential(tmp_path: Path) -> None:
    path = tmp_path / "project.json"
    path.write_text(json.dumps(console_project(s2s_entry(oauth_block()))))
    run = imstoken_cli("token", "--config", str(path), "--credential", "jwt")
    assert run.returncode == 1
    assert "no Service Account (JWT) credential" in one_line(run.stderr)
    assert oauth_block()["client_secrets"][0] not in run.output


def test_main_in_process_checks_both_tables_without_a_credential_key(
    ims: LocalIMS, cred: Credential, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from imstoken._cli import main

    path = workdir / "ims.toml"
    path.write_text(both_toml(cred, ims.url).replace('credential = "oauth"\n', ""))
    logger = logging.getLogger("imstoken")
    before = (logger.level, logger.propagate, list(logger.handlers))
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 credential(s), no `credential` is set" in out
    assert "(in use)" not in out
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


# ---------------------------------------------------------------- the rest


def test_help_and_version() -> None:
    run = imstoken_cli("--help")
    assert run.returncode == 0
    for command in ("token", "check", "convert", "demo"):
        assert command in run.stdout
    version = imstoken_cli("--version")
    assert version.stdout.strip() == f"imstoken {imstoken.__version__}"


def test_the_console_script_is_installed_next_to_the_interpreter() -> None:
    script = Path(sys.executable).with_name("imstoken")
    if not script.exists():
        pytest.skip("no console script beside this interpreter")
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert "convert" in done.stdout


@pytest.mark.slow
def test_demo_runs() -> None:
    run = imstoken_cli("demo")
    assert run.returncode == 0, run.output
    assert "done:" in run.stdout
