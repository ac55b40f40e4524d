"""The operator's CLI (issue 15): bugs 1, 2 and 5, and the commands and options added for it.

Every run is a real ``python -m imstoken`` subprocess; every output is checked for secrets
and tokens. The ``check``-is-concurrent test uses a server that answers only once both
requests are inside it (a barrier), not a stopwatch.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imstoken._cli._parser import build_parser
from imstoken.testing import Credential, LocalIMS

from .test_cli import (  # noqa: F401 - fixtures, as in test_cli
    assert_no_secrets,
    both_toml,
    closed_port_url,
    ims,
    imstoken_cli,
    module_ims,
    one_line,
    workdir,
)


def write(workdir: Path, text: str) -> Path:
    path = workdir / "ims.toml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------- bug 1


def test_check_refuses_a_credential_value_the_provider_refuses(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = write(workdir, both_toml(cred, ims.url, credential="oauth2"))
    run = imstoken_cli("check", "--config", str(path))
    assert run.returncode == 1, run.output
    assert "'credential'" in one_line(run.stderr)
    assert "result: all" not in run.stdout
    assert ims.count() == 0
    assert_no_secrets(run, ims, cred)


# ---------------------------------------------------------------- bug 2


def test_warnings_reach_stderr_by_default_and_quiet_silences_them(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    redis_down = closed_port_url().replace("http://", "redis://")
    extra = f'client_secrte = "typo"\ncache = "{redis_down}"\n'
    path = write(workdir, both_toml(cred, ims.url, extra=extra))
    run = imstoken_cli("token", "--config", str(path))
    assert run.returncode == 0, run.stderr
    assert "did you mean 'client_secret'" in run.stderr
    assert "Redis cache" in run.stderr
    assert run.stderr.count("client_secrte") == 1  # each warning once
    assert_no_secrets(run, ims, cred, tokens=False)

    quiet = imstoken_cli("token", "--config", str(path), "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout.strip() in ims.issued


# ---------------------------------------------------------------- bug 5


def test_unreachable_ims_shows_progress_on_a_terminal_and_the_attempts_after(
    cred: Credential, workdir: Path
) -> None:
    path = write(workdir, both_toml(cred, closed_port_url(), extra="timeout = 0.3\ndeadline = 2\n"))
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "imstoken", "token", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=environ,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 1
    assert process.stdout is not None
    assert process.stdout.read() == b""
    process.stdout.close()
    screen = b"".join(chunks).decode().replace("\r\n", "\n")  # the terminal's line ends
    assert "\r" in screen  # the progress line is redrawn in place
    assert "retrying" in screen
    last = screen.replace("\x1b[2K", "").strip().split("\r")[-1]
    assert "could not be reached" in last
    assert "gave up after" in last
    assert "attempts over" in last
    assert cred.client_secret not in screen


def test_unreachable_ims_without_a_terminal_has_no_progress_line(
    cred: Credential, workdir: Path
) -> None:
    path = write(workdir, both_toml(cred, closed_port_url(), extra="timeout = 0.3\ndeadline = 2\n"))
    run = imstoken_cli("token", "--config", str(path))
    assert run.returncode == 1
    line = one_line(run.stderr)
    assert "\r" not in run.stderr
    assert "gave up after" in line
    assert "attempts over" in line


class BarrierHandler(BaseHTTPRequestHandler):
    """Answers invalid_client, saying whether the other request arrived while this one waited."""

    barrier: threading.Barrier

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            self.barrier.wait()
            together = "together"
        except threading.BrokenBarrierError:
            together = "one at a time"
        body = json.dumps({"error": "invalid_client", "error_description": together}).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_check_asks_for_both_credentials_at_once(cred: Credential, workdir: Path) -> None:
    handler = type("Handler", (BarrierHandler,), {"barrier": threading.Barrier(2, timeout=5)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        path = write(workdir, both_toml(cred, url))
        run = imstoken_cli("check", "--config", str(path))
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 1
    assert run.stdout.count("description: together") == 2, run.stdout
    assert cred.client_secret not in run.output


# ---------------------------------------------------------------- check options


def test_check_json_reports_both_credentials_without_a_token(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = write(workdir, both_toml(cred, ims.url))
    run = imstoken_cli("check", "--config", str(path), "--json")
    assert run.returncode == 0, run.output
    document = json.loads(run.stdout)
    assert document["ok"] is True
    assert document["active"] == "oauth"
    assert [entry["credential"] for entry in document["credentials"]] == ["jwt", "oauth"]
    assert {entry["user_id"] for entry in document["credentials"]} == {cred.technical_account_id}
    assert document["same_technical_account"].startswith("yes")
    assert_no_secrets(run, ims, cred)


def test_check_credential_option_checks_that_one_only(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = write(workdir, both_toml(cred, ims.url))
    run = imstoken_cli("check", "--config", str(path), "--credential", "jwt", "--json")
    assert run.returncode == 0, run.output
    assert [entry["credential"] for entry in json.loads(run.stdout)["credentials"]] == ["jwt"]
    assert ims.count("jwt") == 1
    assert ims.count("oauth") == 0


def test_ims_host_option_points_a_config_elsewhere(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = write(workdir, both_toml(cred, closed_port_url()))
    checked = imstoken_cli("check", "--config", str(path), "--ims-host", ims.url)
    assert checked.returncode == 0, checked.output
    token = imstoken_cli("token", "--config", str(path), "--ims-host", ims.url)
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip() in ims.issued


# ---------------------------------------------------------------- token --force-refresh


def test_token_force_refresh_mints_past_the_shared_cache(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    extra = f'cache = "file"\ncache_path = "{workdir / "cache"}"\n'
    path = write(workdir, both_toml(cred, ims.url, extra=extra))
    first = imstoken_cli("token", "--config", str(path))
    cached = imstoken_cli("token", "--config", str(path))
    forced = imstoken_cli("token", "--config", str(path), "--force-refresh")
    assert first.returncode == cached.returncode == forced.returncode == 0
    assert first.stdout == cached.stdout
    assert forced.stdout != first.stdout
    assert forced.stdout.strip() in ims.issued
    assert ims.count("oauth") == 2


# ---------------------------------------------------------------- imstoken config


def test_config_show_names_each_source_and_hides_secrets(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = write(workdir, both_toml(cred, ims.url))
    run = imstoken_cli("config", "show", "--config", str(path))
    assert run.returncode == 0, run.output
    out = run.stdout
    assert "active credential: oauth" in out
    assert f'credential = "oauth" from file {path}' in out
    lines = out.splitlines()
    oauth = lines[lines.index("[oauth] OAuth Server-to-Server (in use)") :]
    row = {line.split()[0]: line for line in oauth if line.startswith("  ")}
    assert row["client_secret"].split()[1:3] == ["set", "file"]
    assert row["client_id"].endswith(f"file {path} [oauth]")
    assert row["org_id"].endswith(f"file {path}")
    assert row["timeout"].split()[1:] == ["10.0", "default"]
    assert f"{ims.url}/ims/token/v3" in row["token_url"]
    assert ims.count() == 0
    assert_no_secrets(run, ims, cred)


def test_config_from_the_environment_names_the_variables(ims: LocalIMS, cred: Credential) -> None:
    env = {
        "IMS_CREDENTIAL": "oauth",
        "IMS_CLIENT_ID": cred.client_id,
        "IMS_CLIENT_SECRET": cred.client_secret,
        "IMS_ORG_ID": cred.org_id,
        "IMS_SCOPES": ",".join(cred.scopes),
        "IMS_HOST": ims.url,
    }
    run = imstoken_cli("config", "--json", env=env)
    assert run.returncode == 0, run.output
    document = json.loads(run.stdout)
    values = document["credentials"][0]["values"]
    assert values["client_id"]["source"] == "env IMS_CLIENT_ID"
    assert values["scopes"]["value"] == ", ".join(cred.scopes)
    assert values["client_secret"] == {"value": "set", "source": "env IMS_CLIENT_SECRET"}
    assert document["active_source"].endswith("env IMS_CREDENTIAL")
    assert cred.client_secret not in run.output


# ---------------------------------------------------------------- imstoken cache


def test_cache_show_and_clear_the_file_cache(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    extra = f'cache = "file"\ncache_path = "{workdir / "cache"}"\n'
    path = write(workdir, both_toml(cred, ims.url, extra=extra))
    assert imstoken_cli("token", "--config", str(path)).returncode == 0
    shown = imstoken_cli("cache", "show", "--config", str(path), "--json")
    assert shown.returncode == 0, shown.output
    records = {record["credential"]: record for record in json.loads(shown.stdout)}
    assert records["oauth"]["present"] is True
    assert records["jwt"]["present"] is False
    assert Path(records["oauth"]["location"]).parent == workdir / "cache"
    assert_no_secrets(shown, ims, cred)

    cleared = imstoken_cli("cache", "clear", "--config", str(path), "--credential", "oauth")
    assert cleared.returncode == 0, cleared.output
    assert "deleted" in cleared.stdout
    assert not Path(records["oauth"]["location"]).exists()
    again = imstoken_cli("cache", "show", "--config", str(path))
    assert again.stdout.count("record: none") == 2
    assert ims.count() == 1  # show and clear send no request


@pytest.mark.redis
def test_cache_show_and_clear_redis(
    ims: LocalIMS, cred: Credential, workdir: Path, redis_url: str
) -> None:
    path = write(workdir, both_toml(cred, ims.url, extra=f'cache = "{redis_url}"\n'))
    assert imstoken_cli("token", "--config", str(path), "--credential", "jwt").returncode == 0
    shown = imstoken_cli("cache", "show", "--config", str(path))
    assert shown.returncode == 0, shown.output
    assert "(Redis TTL)" in shown.stdout
    assert "redis: imstoken:" in shown.stdout
    assert_no_secrets(shown, ims, cred)
    cleared = imstoken_cli("cache", "clear", "--config", str(path))
    assert cleared.stdout.count("deleted") == 1
    assert cleared.stdout.count("nothing to delete") == 1


def test_cache_with_the_memory_cache_is_a_usage_error(
    ims: LocalIMS, cred: Credential, workdir: Path
) -> None:
    path = write(workdir, both_toml(cred, ims.url))
    run = imstoken_cli("cache", "show", "--config", str(path))
    assert run.returncode == 2
    assert "in-memory cache" in one_line(run.stderr)


# ---------------------------------------------------------------- help


def test_every_subcommand_has_a_description_and_an_example() -> None:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    subparsers = actions[0].choices
    assert set(subparsers) >= {"token", "check", "config", "cache", "convert", "demo"}
    for name, sub in subparsers.items():
        assert sub.description, name
        assert f"imstoken {name}" in (sub.epilog or ""), name


def test_demo_help_has_a_description() -> None:
    run = imstoken_cli("demo", "--help")
    assert run.returncode == 0
    assert "local IMS" in run.stdout
    assert "example:" in run.stdout
