"""The CLI's frame: the argparse parser, logging on stderr, the one-line error report, ``main``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from .. import ConfigError, ImsTokenError, TokenRequestError, __version__
from ._check import run_check
from ._convert import run_convert
from ._shared import EXIT_FAILED, EXIT_USAGE, KINDS, UsageError, one_line
from ._token import run_token

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    with log_to_stderr(args.verbose, err):
        try:
            return COMMANDS[args.command](args, out, err)
        except UsageError as error:
            err.write(f"imstoken: {error}\n")
            return EXIT_USAGE
        except (ImsTokenError, OSError) as error:
            if isinstance(error, BrokenPipeError):
                # The reader went away (`imstoken token | head -c 10`): not an error to report.
                with contextlib.suppress(OSError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return EXIT_FAILED
            report(error, args.verbose, err)
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
    "convert": run_convert,
    "demo": demo,
}


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``imstoken`` parser: global options and one subcommand per entry of COMMANDS."""
    # --verbose is accepted before or after the command; SUPPRESS keeps the global value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="more detail on errors and log lines of each token fetch (never secrets)",
    )
    parser = argparse.ArgumentParser(
        prog="imstoken",
        description="Adobe IMS access tokens: JWT or OAuth Server-to-Server, by configuration.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False,
        help="more detail on errors, and a log line per token fetch",
    )
    parser.add_argument("--version", action="version", version=f"imstoken {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser(
        "token",
        parents=[common],
        help="print an access token (or headers, or JSON)",
        description="Print an access token from the config file, or from IMS_* environment "
        "variables without --config. Uses the config's cache, like the app.",
    )
    add_config_options(token)
    token.add_argument(
        "--credential",
        choices=KINDS,
        help="use this credential instead of the config's `credential`",
    )
    shape = token.add_mutually_exclusive_group()
    shape.add_argument(
        "--json",
        action="store_true",
        help="print {access_token, token_type, expires_at, credential}",
    )
    shape.add_argument(
        "--headers",
        action="store_true",
        help="print the request headers, one 'Name: value' a line (curl -H @-)",
    )

    check = commands.add_parser(
        "check",
        parents=[common],
        help="mint a token with every credential and compare them",
        description="For every credential the config holds, mint a fresh token and report ok "
        "or the IMS error, its expiry and identity. Exit status 0 only if all work. "
        "Never prints a token.",
    )
    add_config_options(check)

    convert = commands.add_parser(
        "convert",
        parents=[common],
        help="Developer Console project JSON -> imstoken TOML",
        description="Turn the Developer Console 'Download JSON' file into an imstoken TOML "
        "config with every server credential it holds. Secrets go only to the output file "
        "(mode 0600), or stay in environment variables with --secrets-from-env.",
    )
    convert.add_argument("console_json", metavar="CONSOLE_JSON", help="the downloaded file")
    convert.add_argument(
        "--credential", choices=KINDS, help="the credential to use (default: oauth when present)"
    )
    convert.add_argument(
        "--private-key",
        metavar="PATH",
        help="the JWT credential's private key file (the console has none)",
    )
    convert.add_argument("-o", "--output", metavar="FILE", help="write the TOML here (mode 0600)")
    convert.add_argument("--force", action="store_true", help="replace an existing output file")
    convert.add_argument(
        "--secrets-from-env",
        action="store_true",
        help='write client_secret = { env = "IMS_CLIENT_SECRET" } references',
    )
    convert.add_argument(
        "--ims-host", metavar="URL", help="IMS host to write (default: Adobe production)"
    )

    commands.add_parser("demo", parents=[common], help="run the demo against the bundled local IMS")
    return parser


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """--config and --private-key, shared by the commands that load a config."""
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help=".toml, .json or Developer Console JSON (default: IMS_* env vars)",
    )
    parser.add_argument(
        "--private-key",
        metavar="PATH",
        help="private key file for the JWT credential (overrides the config)",
    )


# ---------------------------------------------------------------- stderr


@contextlib.contextmanager
def log_to_stderr(verbose: bool, err: TextIO) -> Iterator[None]:
    """Show the library's log lines on stderr with --verbose; otherwise keep them quiet.

    The CLI reports errors itself, in one line; Python's last-resort handler would add a
    second, differently worded one for every logged retry and failure.
    """
    logger = logging.getLogger("imstoken")
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.NullHandler()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.CRITICAL + 1)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def report(error: BaseException, verbose: bool, err: TextIO) -> None:
    """One line; with --verbose, what kind of error and where (never a secret)."""
    err.write(f"imstoken: {one_line(str(error)) or type(error).__name__}\n")
    if not verbose:
        return
    module = type(error).__module__
    public = "imstoken" if module.startswith("imstoken") else module
    err.write(f"  error class: {public}.{type(error).__qualname__}\n")
    if isinstance(error, ConfigError) and error.key:
        env = f" (environment variable {error.env_var})" if error.env_var else ""
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
