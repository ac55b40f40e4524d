"""The examples the README names run, and say what the README says they show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("before_jwt_by_hand.py", "token requests at IMS for 3 jobs: 3"),
        ("after_imstoken.py", "token requests at IMS for 6 jobs: jwt=1 oauth=1"),
        ("asyncio_app.py", "token requests at IMS: 1"),
    ],
)
def test_example_runs(name: str, expected: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
