"""The secret-leak scan itself: it must find a leak, wherever it hides, and never print it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import imstoken
from imstoken.testing import register_secret, registered_secrets

from . import leakscan
from .leakscan import LeakScanner

ROOT = Path(__file__).resolve().parent.parent
# Made up here and never registered with the session's scan: these tests leak them on purpose.
CANARY = "canary-" + "Zq9xW2vB7nK4pL0s" * 2  # 39 characters, base64url alphabet
ODD_CANARY = "pass phrase: ümlaut & co"  # outside the indexed alphabet


def record(message: str, *args: object, level: int = logging.DEBUG) -> logging.LogRecord:
    return logging.LogRecord("imstoken", level, __file__, 1, message, args, None)


def test_a_secret_in_a_log_record_below_the_logger_level_is_found() -> None:
    scanner = LeakScanner()
    scanner.record_log(record("sending %s", f"form=client_secret={CANARY}&x=1"))
    (finding,) = scanner.scan([CANARY])
    assert "log imstoken DEBUG" in finding.where
    assert CANARY not in str(finding)  # the report names the leak, it does not repeat it
    assert "<SECRET>" in finding.context


def test_a_secret_in_a_log_records_extra_fields_is_found() -> None:
    scanner = LeakScanner()
    entry = record("fetched a token")
    entry.imstoken_token = CANARY  # structured logging leaks too
    scanner.record_log(entry)
    assert len(scanner.scan([CANARY])) == 1


def test_a_secret_in_a_suppressed_exception_context_is_found() -> None:
    scanner = LeakScanner()
    try:
        try:
            raise ValueError(f"could not parse {CANARY}")
        except ValueError:
            raise imstoken.TokenRequestError("token endpoint answered nonsense") from None
    except imstoken.TokenRequestError as error:
        scanner.track("exception", error)
    assert len(scanner.scan([CANARY])) == 1


def test_a_secret_in_a_repr_is_found() -> None:
    class Leaky:
        def __repr__(self) -> str:
            return f"Leaky(secret={CANARY!r})"

    scanner = LeakScanner()
    scanner.track("repr Leaky", Leaky())
    (finding,) = scanner.scan([CANARY])
    assert "repr Leaky" in finding.where


@pytest.mark.parametrize("before", range(0, 45, 1))
def test_the_index_finds_a_secret_at_every_offset_inside_a_long_run(before: int) -> None:
    # The index samples long runs every few characters: no offset may slip through.
    scanner = LeakScanner()
    scanner.add("text", "Bearer " + "A" * before + CANARY + "b" * (before % 7) + " end")
    assert len(scanner.scan([CANARY])) == 1


def test_secrets_outside_the_indexed_alphabet_and_short_ones() -> None:
    scanner = LeakScanner()
    scanner.add("text", f"passphrase was {ODD_CANARY}; pin 1234")
    found = scanner.scan([ODD_CANARY, "1234"])
    assert [finding.hint for finding in found] == [f"pass...({len(ODD_CANARY)} chars)"]


def test_nothing_is_found_where_there_is_nothing() -> None:
    scanner = LeakScanner()
    scanner.add("text", "Bearer ***, client_secret=**********, " + CANARY[:20])
    assert scanner.scan([CANARY]) == []


def test_the_session_scan_sees_records_the_logger_level_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scanner = leakscan.active_scanner()
    assert scanner is not None, "tests.leakscan is not in pytest_plugins"
    marker = "leakscan-probe-4f1d9c"  # not a secret: only shows that the record was seen
    logging.getLogger("imstoken").debug("probe %s", marker)
    assert any(marker in text for text in scanner.texts)
    # ...and handlers still get only what the logger's level lets through.
    assert marker not in caplog.text


def test_the_session_scan_sees_every_ims_token_error() -> None:
    scanner = leakscan.active_scanner()
    assert scanner is not None
    marker = "leakscan-probe-exception-77a2"
    imstoken.TokenRequestError(marker)  # created, never raised, never shown: still recorded
    scanner.flush()
    assert any(marker in text for text in scanner.texts)


def test_the_local_ims_registers_what_it_knows(ims: imstoken.testing.LocalIMS) -> None:
    cred = ims.add_credential()
    imstoken.from_config(cred.config("jwt")).get_token()
    assert cred.private_key is not None
    known = registered_secrets()
    body = [line for line in cred.private_key.splitlines() if "-----" not in line]
    assert cred.client_secret in known
    assert set(body) <= known
    assert ims.issued[-1] in known
    assert ims.requests[-1].form["jwt_token"] in known


def test_a_leak_fails_the_pytest_session(tmp_path: Path) -> None:
    test_file = tmp_path / "test_leak.py"
    test_file.write_text(
        textwrap.dedent(
            f"""
            import logging
            from imstoken.testing import register_secret

            def test_logs_a_secret_at_debug():
                register_secret({CANARY!r})
                logging.getLogger("imstoken").debug("oops: %s", {CANARY!r})
            """
        )
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.leakscan", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "1 passed" in output  # the test itself passed...
    assert result.returncode == 1, output  # ...and the session failed
    assert "SECRET LEAK" in output
    assert "test_leak.py::test_logs_a_secret_at_debug [log imstoken DEBUG]" in output
    assert CANARY not in output  # the report does not leak it again


def test_register_secret_ignores_empty_values() -> None:
    before = registered_secrets()
    register_secret(None)
    register_secret("")
    assert registered_secrets() == before
