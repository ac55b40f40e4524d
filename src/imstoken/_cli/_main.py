"""The ``imstoken`` command line (also ``python -m imstoken``): the cut-over as commands.

``token`` prints a token for scripts and curl, ``check`` proves which credentials work and
that they are one technical account, ``convert`` turns a Developer Console download into a
config file, ``demo`` runs the demo. Errors are one line on stderr; ``--verbose`` adds
detail. No command prints a secret; only ``token`` prints a token, because it is asked to.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .._backends import unverified_claims
from .._config import env_to_config, merge, read_config_file
from .._errors import ConfigError, ImsTokenError, TokenRequestError
from .._provider import TokenProvider
from .._token import Token

_LABEL = {"jwt": "Service Account (JWT)", "oauth": "OAuth Server-to-Server"}
_KINDS = ("jwt", "oauth")  # the migration order: old credential first

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A command line that asks for something imstoken refuses to do."""


# ---------------------------------------------------------------- parser


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

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
    _config_options(token)
    token.add_argument(
        "--credential",
        choices=_KINDS,
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
    _config_options(check)

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
        "--credential", choices=_KINDS, help="the credential to use (default: oauth when present)"
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


def _config_options(parser: argparse.ArgumentParser) -> None:
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


# ---------------------------------------------------------------- shared pieces


@dataclass
class _Loaded:
    config: dict[str, Any]
    base_dir: Path | None
    source: str


def _load(args: argparse.Namespace) -> _Loaded:
    """The config mapping from --config, or from IMS_* variables, with --private-key applied."""
    from .._config import load_file_config

    private_key = getattr(args, "private_key", None)
    if args.config is not None:
        # The credential matters here for a console JSON: it must hold the one asked for.
        config, base_dir = load_file_config(
            args.config, credential=getattr(args, "credential", None), private_key_path=private_key
        )
        return _Loaded(config, base_dir, args.config)
    config = env_to_config(os.environ)
    if not config:
        raise ConfigError(
            "no --config FILE, and no IMS_* environment variables are set "
            "(need at least IMS_CREDENTIAL and IMS_CLIENT_ID)"
        )
    if private_key is not None:
        config.pop("private_key", None)
        config["private_key_path"] = os.fspath(Path(private_key).expanduser().absolute())
    return _Loaded(config, None, "IMS_* environment variables")


def _build(loaded: _Loaded, credential: str | None) -> tuple[TokenProvider, list[str]]:
    """A provider, and the warnings building it raised (the retired-JWT one, say)."""
    from .._factory import from_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        provider = from_config(loaded.config, credential=credential, base_dir=loaded.base_dir)
    return provider, list(dict.fromkeys(str(item.message) for item in caught))


def _when(expires_at: float) -> str:
    stamp = datetime.fromtimestamp(expires_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = int(expires_at - time.time())
    if left <= 0:
        return f"{stamp} (expired)"
    hours, rest = divmod(left, 3600)
    return f"{stamp} (in {hours} h {rest // 60} min)" if hours else f"{stamp} (in {rest // 60} min)"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@contextlib.contextmanager
def _logging(verbose: bool, err: TextIO) -> Iterator[None]:
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


# ---------------------------------------------------------------- token


def _cmd_token(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    loaded = _load(args)
    provider, notices = _build(loaded, args.credential)
    for notice in notices:
        err.write(f"imstoken: warning: {_one_line(notice)}\n")
    with provider:
        try:
            if args.headers:
                lines = [f"{name}: {value}" for name, value in provider.headers().items()]
                out.write("\n".join(lines) + "\n")
                return EXIT_OK
            token = provider.get_token()
        except TokenRequestError as error:
            error.add_note(f"credential: {provider.credential}")
            error.add_note(f"token endpoint: {provider.token_url}")
            raise
    if args.json:
        document = {
            "access_token": token.access_token,
            "token_type": token.token_type,
            "expires_at": token.expires_at,
            "credential": token.credential,
        }
        out.write(json.dumps(document) + "\n")
    else:
        out.write(token.access_token + "\n")
    return EXIT_OK


# ---------------------------------------------------------------- check


@dataclass
class _Result:
    kind: str
    token_url: str | None = None
    token: Token | None = field(default=None, repr=False)
    error: ImsTokenError | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.token is not None

    def claims(self) -> dict[str, Any]:
        return unverified_claims(self.token.access_token) if self.token is not None else {}


def _credentials_in(config: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The credentials a config holds ([jwt]/[oauth] tables, or the flat one) and the active one."""
    tables = [kind for kind in _KINDS if isinstance(config.get(kind), Mapping)]
    try:
        active: str | None = merge(config, None)[0]
    except ConfigError:
        if not tables:
            raise  # neither a credential key nor a table: nothing to check
        active = None
    return [kind for kind in _KINDS if kind in tables or kind == active], active


def _check_one(loaded: _Loaded, kind: str) -> _Result:
    result = _Result(kind)
    try:
        provider, result.notices = _build(loaded, kind)
    except ConfigError as error:
        result.error = error
        return result
    result.token_url = provider.token_url
    with provider:
        try:
            # A fresh token: the question is whether the credential works now, not yesterday.
            result.token = provider.get_token(force_refresh=True)
        except TokenRequestError as error:
            result.error = error
    return result


def _describe(result: _Result, active: str | None, say: Callable[[str], None]) -> None:
    in_use = " (in use)" if result.kind == active else ""
    status = "ok" if result.ok else "FAILED"
    say(f"[{result.kind}] {_LABEL[result.kind]}{in_use}: {status}")
    if result.token_url:
        say(f"  token endpoint: {result.token_url}")
    error = result.error
    if isinstance(error, ConfigError):
        say(f"  configuration error: {_one_line(str(error))}")
    elif isinstance(error, TokenRequestError):
        say(f"  problem: {_one_line(str(error.args[0]).split('; ')[0])}")
        say(f"  error: {_one_line(error.error or '(none given)')}")
        if error.error_description:
            say(f"  description: {_one_line(error.error_description)}")
        if error.status_code is not None:
            say(f"  HTTP status: {error.status_code}")
        say(f"  x-debug-id: {error.debug_id or '(none)'}")
    if result.token is not None:
        claims = result.claims()

        def claim(name: str) -> str:
            value = claims.get(name)
            return _one_line(str(value)) if value not in (None, "") else "(not in the token)"

        say(f"  expires: {_when(result.token.expires_at)}")
        say(f"  client_id: {claim('client_id')}")
        say(f"  technical account (user_id): {claim('user_id')}")
        say(f"  org: {claim('org')}")
    for notice in result.notices:
        say(f"  note: {_one_line(notice)}")


def _same_account(results: Sequence[_Result]) -> str:
    jwt, oauth = results
    for result in results:
        if not result.ok:
            return f"unknown (the {result.kind} credential did not yield a token)"
    jwt_user, oauth_user = jwt.claims().get("user_id"), oauth.claims().get("user_id")
    if not jwt_user or not oauth_user:
        return "unknown (a token carries no user_id)"
    if jwt_user == oauth_user:
        clients = jwt.claims().get("client_id") == oauth.claims().get("client_id")
        same_client = "same client_id" if clients else "different client_ids"
        return f"yes (user_id {_one_line(str(jwt_user))} in both tokens, {same_client})"
    return "NO (the tokens carry different user_ids)"


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    loaded = _load(args)
    kinds, active = _credentials_in(loaded.config)

    def say(line: str = "") -> None:
        out.write(line + "\n")
        out.flush()

    in_use = f'credential = "{active}" is in use' if active else "no `credential` is set"
    say(f"checking {_one_line(loaded.source)}: {len(kinds)} credential(s), {in_use}")
    say()
    results = [_check_one(loaded, kind) for kind in kinds]
    for result in results:
        _describe(result, active, say)
    say()
    if any(result.ok for result in results):
        say("identity is decoded from each access token's payload WITHOUT verifying its signature")
    if len(results) == 2:
        say(f"same technical account: {_same_account(results)}")
    failed = sum(not result.ok for result in results)
    if failed:
        say(f"result: {failed} of {len(results)} credential(s) FAILED")
        return EXIT_FAILED
    say(f"result: all {len(results)} credential(s) work")
    return EXIT_OK


# ---------------------------------------------------------------- convert


def _write_private(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to a new file that only its owner can read (mode 0600).

    Without ``replace`` an existing file is never touched (O_EXCL). With it, a private temp
    file in the same folder is renamed over the target, so no reader sees a partial file.
    """
    data = text.encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    if not replace:
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise UsageError(f"{path} exists; add --force to replace it") from None
        target = path
    else:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        target = Path(temp)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), 0o600)  # the umask may have taken bits away
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(target, path)
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()
        raise


def _cmd_convert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .._config._console import convert_console

    source = Path(args.console_json)
    data = read_config_file(source)
    if not isinstance(data.get("project"), Mapping):
        raise ConfigError(
            f'{str(source)!r} is not a Developer Console project JSON (no "project" object)'
        )
    if args.output is None and not args.secrets_from_env:
        raise UsageError(
            "refusing to print client secrets to the terminal: give -o FILE "
            "(written with mode 0600), or --secrets-from-env"
        )
    conversion = convert_console(
        data,
        credential=args.credential,
        private_key_path=args.private_key,
        ims_host=args.ims_host,
        secrets_from_env=args.secrets_from_env,
        source=source.name,
    )
    if args.output is None:
        out.write(conversion.text)
        where = "the config to stdout"
    else:
        output = Path(args.output).expanduser()
        _write_private(output, conversion.text, replace=args.force)
        where = f"{output} (mode 0600)"
    held = ", ".join(_LABEL[kind] for kind in conversion.kinds)
    err.write(f'imstoken: wrote {where}: credential = "{conversion.credential}"; holds {held}\n')
    for note in conversion.notes:
        err.write(f"imstoken: {note}\n")
    if args.output is not None:
        err.write(f"imstoken: next: imstoken check --config {args.output}\n")
    return EXIT_OK


# ---------------------------------------------------------------- main


def _cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._demo import run

    return run(out)


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {
    "token": _cmd_token,
    "check": _cmd_check,
    "convert": _cmd_convert,
    "demo": _cmd_demo,
}


def _report(error: BaseException, verbose: bool, err: TextIO) -> None:
    """One line; with --verbose, what kind of error and where (never a secret)."""
    err.write(f"imstoken: {_one_line(str(error)) or type(error).__name__}\n")
    if not verbose:
        return
    module = type(error).__module__
    public = "imstoken" if module.startswith("imstoken") else module
    err.write(f"  error class: {public}.{type(error).__qualname__}\n")
    if isinstance(error, ConfigError) and error.key:
        env = f" (environment variable {error.env_var})" if error.env_var else ""
        err.write(f"  configuration key: {error.key}{env}\n")
    if isinstance(error, TokenRequestError):
        err.write(
            f"  status: {error.status_code}, error: {error.error}, retryable: {error.retryable}\n"
        )
        err.write(f"  x-debug-id: {error.debug_id or '(none)'}\n")
    for note in getattr(error, "__notes__", ()):
        err.write(f"  {_one_line(note)}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    with _logging(args.verbose, err):
        try:
            return _COMMANDS[args.command](args, out, err)
        except UsageError as error:
            err.write(f"imstoken: {error}\n")
            return EXIT_USAGE
        except (ImsTokenError, OSError) as error:
            if isinstance(error, BrokenPipeError):
                # The reader went away (`imstoken token | head -c 10`): not an error to report.
                with contextlib.suppress(OSError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return EXIT_FAILED
            _report(error, args.verbose, err)
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
