"""The demo runs end to end (it is the README's first command)."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_and_shows_the_flip_the_cache_and_the_refresh() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imstoken", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "requests at IMS: jwt=1 oauth=0" in out
    assert "requests at IMS: jwt=1 oauth=1" in out
    assert "same technical account as the JWT token: True" in out
    assert "refresh requests at IMS: 1" in out
    assert "Traceback" not in result.stderr
