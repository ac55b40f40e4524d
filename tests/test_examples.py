"""The examples the README names run against the local IMS, send their requests, and say what
the README says they show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("before_jwt_by_hand.py", "token requests at IMS for 3 jobs: 3; API calls answered: 3"),
        (
            "after_imstoken.py",
            "token requests at IMS for 6 jobs: jwt=1 oauth=1; API calls answered: 6",
        ),
        ("asyncio_app.py", "API answered 200 with 200; token requests at IMS: 1"),
        ("requests_app.py", "token requests at IMS: 1; API calls answered: 3"),
        ("toml_config.py", "token requests at IMS: jwt=1 oauth=1; API calls answered: 2"),
        ("fleet_cache.py", "4 processes, API answered 4 with 200; token requests at IMS: 1"),
    ],
)
def test_example_runs(name: str, expected: str) -> None:
    if name == "before_jwt_by_hand.py":
        pytest.importorskip("jwt", reason="the 'before' example signs with PyJWT (dev extra)")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.redis
def test_fleet_cache_example_with_redis(redis_url: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "fleet_cache.py"), redis_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "token requests at IMS: 1" in result.stdout


def test_example_toml_holds_both_credentials_and_no_secret() -> None:
    import tomllib

    config = tomllib.loads((EXAMPLES / "ims.toml").read_text())
    assert config["credential"] == "oauth"
    assert {"jwt", "oauth"} <= set(config)
    assert config["client_secret"] == {"env": "IMS_CLIENT_SECRET"}
