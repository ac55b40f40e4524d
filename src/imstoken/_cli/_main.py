"""The CLI's frame: the command table, the one-line error report, ``main``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from .. import ConfigError, ImsTokenError, TokenRequestError
from ._cache import run_cache
from ._check import run_check
from ._convert import run_convert
from ._output import DEBUG, QUIET, FetchStats, log_to_stderr
from ._parser import build_parser
from ._shared import EXIT_FAILED, EXIT_USAGE, UsageError, one_line
from ._show import run_config
from ._token import run_token

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    args.verbosity = QUIET if args.quiet else min(args.verbose, DEBUG)
    args.verbose = args.verbosity > 0
    args.stats = FetchStats()
    with log_to_stderr(args.verbosity, err, args.stats) as handler:
        try:
            return COMMANDS[args.command](args, out, err)
        except UsageError as error:
            handler.clear()
            err.write(f"imstoken: {error}\n")
            return EXIT_USAGE
        except (ImsTokenError, OSError) as error:
            handler.clear()
            if isinstance(error, BrokenPipeError):
                # The reader went away (`imstoken token | head -c 10`): not an error to report.
                with contextlib.suppress(OSError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return EXIT_FAILED
            report(error, args, err)
            return EXIT_FAILED
        except KeyboardInterrupt:
            return 130
        except Exception as error:  # noqa: BLE001 - the last guard: one line, not a traceback
            # A bug. Its message might quote a value, so only the type and the stack are shown.
            err.write(
                f"imstoken: unexpected error ({type(error).__name__}); "
                "run with --verbose for where it happened\n"
            )
            if args.verbose:
                frames = traceback.extract_tb(error.__traceback__)
                err.writelines(
                    f"  {frame.filename}:{frame.lineno} in {frame.name}\n" for frame in frames
                )
            return EXIT_FAILED


def demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``imstoken demo``; the bundled local IMS is imported only when the demo runs."""
    from ._demo import run_demo

    return run_demo(args, out, err)


COMMANDS: dict[str, Command] = {
    "token": run_token,
    "check": run_check,
    "config": run_config,
    "cache": run_cache,
    "convert": run_convert,
    "demo": demo,
}


def report(error: BaseException, args: argparse.Namespace, err: TextIO) -> None:
    """One line (with a failed fetch's attempts); with --verbose, what kind of error and where
    (never a secret)."""
    line = one_line(str(error)) or type(error).__name__
    if isinstance(error, TokenRequestError):
        tried = [attempts.describe() for attempts in args.stats.failures.values()]
        if tried:
            line += f" (gave up after {'; '.join(tried)})"
    err.write(f"imstoken: {line}\n")
    if not args.verbose:
        return
    module = type(error).__module__
    public = "imstoken" if module.startswith("imstoken") else module
    err.write(f"  error class: {public}.{type(error).__qualname__}\n")
    if isinstance(error, ConfigError) and error.key:
        # IMS_* names apply only when the config came from the environment.
        from_env = getattr(args, "config", None) is None
        env = f" (environment variable {error.env_var})" if error.env_var and from_env else ""
        err.write(f"  configuration key: {error.key}{env}\n")
    if isinstance(error, TokenRequestError):
        # No status and no OAuth error when no answer came (unreachable, timed out).
        status = "(no answer)" if error.status_code is None else error.status_code
        err.write(
            f"  status: {status}, error: {error.error or '(none)'}, retryable: {error.retryable}\n"
        )
        err.write(f"  x-debug-id: {error.debug_id or '(none)'}\n")
    for note in getattr(error, "__notes__", ()):
        err.write(f"  {one_line(note)}\n")
