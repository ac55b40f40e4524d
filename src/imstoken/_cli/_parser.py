"""The ``imstoken`` argument parser: global options and one subcommand per command.

Every subcommand's help has a description and an example (``imstoken COMMAND --help``).
"""

from __future__ import annotations

import argparse

from .. import __version__
from ._shared import KINDS


def examples(*lines: str) -> str:
    """An epilog of example command lines."""
    return "example:\n" + "\n".join(f"  {line}" for line in lines)


def verbosity_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """-v/--verbose (count) and -q/--quiet; accepted before or after the command."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more detail: errors in full, a log line per fetch and retry (-vv: debug lines)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="errors only: no warnings, no progress line",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``imstoken`` parser."""
    # SUPPRESS keeps the global value when the option is not repeated after the command.
    common = argparse.ArgumentParser(add_help=False)
    verbosity_options(common, default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="imstoken",
        description="Adobe IMS access tokens: JWT or OAuth Server-to-Server, by configuration. "
        "Warnings (unknown keys, a shared cache that is down, the retired-JWT notice) go to "
        "stderr; -q silences them.",
        epilog=examples(
            "imstoken check --config ims.toml",
            "imstoken token --config ims.toml --headers | curl -H @- https://analytics.adobe.io/…",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbosity_options(parser, default=0)
    parser.add_argument("--version", action="version", version=f"imstoken {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str, *lines: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            parents=[common],
            help=summary,
            description=description,
            epilog=examples(*lines),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    token = command(
        "token",
        "print an access token (or headers, or JSON)",
        "Print an access token from the config file, or from IMS_* environment variables "
        "without --config. Uses the config's cache, like the app.",
        "imstoken token --config ims.toml --json",
        "imstoken token --config project.json --ims-host http://127.0.0.1:8080 --force-refresh",
    )
    config_options(token)
    token.add_argument(
        "--force-refresh",
        action="store_true",
        help="mint a new token instead of using a cached one (the new one is cached)",
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

    check = command(
        "check",
        "mint a token with every credential and compare them",
        "For every credential the config holds (or the one --credential names), mint a fresh "
        "token, all at once, and report ok or the IMS error, its expiry and identity. Exit "
        "status 0 only if all work and the config is one the provider accepts. Never prints a "
        "token.",
        "imstoken check --config ims.toml",
        "imstoken check --config ims.toml --credential oauth --json",
    )
    config_options(check)
    check.add_argument("--json", action="store_true", help="print the report as one JSON object")

    config = command(
        "config",
        "show the resolved configuration and where each value came from",
        "Show what a provider would be built from: the active credential, each value and its "
        "source (file, [table], environment variable, option or default). Secrets are shown as "
        "set or not set. Sends no request.",
        "imstoken config --config ims.toml",
        "IMS_CREDENTIAL=oauth IMS_CLIENT_ID=… imstoken config show --json",
    )
    config.add_argument("action", nargs="?", choices=["show"], default="show", help="show")
    config_options(config)
    config.add_argument("--json", action="store_true", help="print one JSON object")

    cache = command(
        "cache",
        "list or clear the file and Redis cache records of a config",
        "List the shared-cache records (file cache or Redis) of the config's credentials: "
        "cache key, where the record is, its expiry (Redis TTL) or age (file time). Never reads "
        "or prints a token. `clear` deletes them, so the next call mints a new token.",
        "imstoken cache show --config ims.toml",
        "imstoken cache clear --config ims.toml --credential jwt",
    )
    cache.add_argument("action", choices=["show", "clear"], help="show or clear")
    config_options(cache)
    cache.add_argument("--json", action="store_true", help="show: print one JSON object")

    convert = command(
        "convert",
        "Developer Console project JSON -> imstoken TOML",
        "Turn the Developer Console 'Download JSON' file into an imstoken TOML config with "
        "every server credential it holds. Secrets go only to the output file (mode 0600), or "
        "stay in environment variables with --secrets-from-env.",
        "imstoken convert 1234-Project-Production.json --private-key private.key -o ims.toml",
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

    command(
        "demo",
        "run the demo against the bundled local IMS",
        "Start the bundled local IMS (imstoken.testing.LocalIMS), mint a token with the JWT "
        "credential, flip one config line to OAuth, and show the cache and the background "
        "refresh at work. Needs no Adobe account and no network beyond loopback.",
        "imstoken demo",
    )
    return parser


def config_options(parser: argparse.ArgumentParser) -> None:
    """--config, --private-key, --credential and --ims-host: the commands that load a config."""
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
    parser.add_argument(
        "--credential",
        choices=KINDS,
        help="use this credential instead of the config's `credential`",
    )
    parser.add_argument(
        "--ims-host",
        metavar="URL",
        help="IMS host to talk to instead of the config's (stage, or a local IMS)",
    )
