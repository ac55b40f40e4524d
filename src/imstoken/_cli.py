"""The ``imstoken`` command line (also ``python -m imstoken``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._exceptions import ImsTokenError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imstoken", description="Adobe IMS access tokens: JWT or OAuth, by configuration."
    )
    parser.add_argument("--verbose", action="store_true", help="more detail (never secrets)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the demo against the bundled local IMS")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from ._demo import run

            return run(sys.stdout)
    except ImsTokenError as error:
        print(f"imstoken: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2
