"""What the CLI's commands share: credential names and labels, exit statuses, UsageError."""

from __future__ import annotations

import argparse
from typing import TextIO

LABEL = {"jwt": "Service Account (JWT)", "oauth": "OAuth Server-to-Server"}
KINDS = ("jwt", "oauth")  # the migration order: old credential first

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A command line that asks for something imstoken refuses to do."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) made one space."""
    return " ".join(str(text).split())


def warn(args: argparse.Namespace, err: TextIO, text: str) -> None:
    """``imstoken: warning: …`` on ``err``, unless -q."""
    if getattr(args, "verbosity", 0) >= 0:
        err.write(f"imstoken: warning: {one_line(text)}\n")
        err.flush()
