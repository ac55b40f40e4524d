"""``imstoken check``: mint a fresh token with every credential, report each, compare identities.

Never prints a token: identity comes from the token's claims, decoded without verification.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from .. import ConfigError, ImsTokenError, Token, TokenProvider, TokenRequestError
from .._backends import unverified_claims
from .._config import merge
from ._load import Loaded, build_provider, load_config
from ._output import Attempts, FetchStats
from ._secrets import secret_verdicts
from ._shared import EXIT_FAILED, EXIT_OK, KINDS, LABEL, one_line


@dataclass
class Result:
    """One credential's outcome: a token, or the error that stopped it."""

    kind: str
    token_url: str | None = None
    token: Token | None = field(default=None, repr=False)
    error: ImsTokenError | None = None
    notices: list[str] = field(default_factory=list)
    attempts: Attempts | None = None

    @property
    def ok(self) -> bool:
        return self.token is not None

    def claims(self) -> dict[str, Any]:
        return unverified_claims(self.token.access_token) if self.token is not None else {}


def run_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Report every credential the config holds on ``out``; EXIT_OK only if all of them work."""
    loaded = load_config(args)
    kinds, active = credentials_in(loaded.config, args.credential)
    results = check_all(loaded, kinds, args.stats)

    if args.json:
        out.write(json.dumps(as_document(loaded, results, active), indent=2) + "\n")
        return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED

    def say(line: str = "") -> None:
        out.write(line + "\n")
        out.flush()

    in_use = f'credential = "{active}" is in use' if active else "no `credential` is set"
    say(f"checking {one_line(loaded.source)}: {len(kinds)} credential(s), {in_use}")
    say()
    for result in results:
        describe(result, active, say)
    say()
    if any(result.ok for result in results):
        say("identity is decoded from each access token's payload WITHOUT verifying its signature")
    if len(results) == 2:
        say(f"same technical account: {same_account(results)}")
    failed = sum(not result.ok for result in results)
    if failed:
        say(f"result: {failed} of {len(results)} credential(s) FAILED")
        return EXIT_FAILED
    say(f"result: all {len(results)} credential(s) work")
    return EXIT_OK


def credentials_in(
    config: Mapping[str, Any], requested: str | None = None
) -> tuple[list[str], str | None]:
    """The credentials to check ([jwt]/[oauth] tables, or the flat one) and the active one.

    A ``credential`` value the provider would refuse (``"oauth2"``) is refused here too: a
    pre-cut-over check must fail on a config the app cannot start with.
    """
    if requested is not None:
        merge(config, requested)  # the checks a provider built with --credential makes
        return [requested], requested
    tables = [kind for kind in KINDS if isinstance(config.get(kind), Mapping)]
    given = config.get("credential", config.get("authentication_method"))
    try:
        active: str | None = merge(config, None)[0]
    except ConfigError:
        if given is not None or not tables:
            raise  # a credential the provider refuses, or nothing at all to check
        active = None  # no `credential` yet: check both tables before choosing
    return [kind for kind in KINDS if kind in tables or kind == active], active


def check_all(loaded: Loaded, kinds: Sequence[str], stats: FetchStats) -> list[Result]:
    """Build every provider (one at a time: warnings are caught per build), then fetch with
    all of them at once, so an unreachable IMS costs one deadline, not one per credential."""
    results = [Result(kind) for kind in kinds]
    providers: list[TokenProvider | None] = []
    for result in results:
        try:
            provider, result.notices = build_provider(loaded, result.kind)
        except ConfigError as error:
            result.error = error
            providers.append(None)
            continue
        result.token_url = provider.token_url
        providers.append(provider)

    def fetch(result: Result, provider: TokenProvider | None) -> None:
        if provider is None:
            return
        with provider:
            try:
                # A fresh token: the question is whether the credential works now.
                result.token = provider.get_token(force_refresh=True)
            except TokenRequestError as error:
                result.error = error
                result.attempts = stats.failed(result.kind)
        result.notices.extend(secret_verdicts(loaded, result.kind))  # several client_secrets

    with ThreadPoolExecutor(max_workers=max(1, len(results))) as pool:
        futures = [pool.submit(fetch, *pair) for pair in zip(results, providers, strict=True)]
        for future in futures:
            future.result()
    return results


def as_document(loaded: Loaded, results: Sequence[Result], active: str | None) -> dict[str, Any]:
    """The ``check --json`` report: no token, no secret."""
    credentials = []
    for result in results:
        entry: dict[str, Any] = {
            "credential": result.kind,
            "label": LABEL[result.kind],
            "in_use": result.kind == active,
            "ok": result.ok,
            "token_endpoint": result.token_url,
            "notes": [one_line(notice) for notice in result.notices],
        }
        if result.token is not None:
            claims = result.claims()
            entry["expires_at"] = result.token.expires_at
            for name in ("client_id", "user_id", "org"):
                entry[name] = claims.get(name)
        error = result.error
        if error is not None:
            described: dict[str, Any] = {
                "class": f"imstoken.{type(error).__qualname__}",
                "message": one_line(error.message),
            }
            if isinstance(error, TokenRequestError):
                described.update(
                    error=error.error,
                    error_description=error.error_description,
                    status_code=error.status_code,
                    debug_id=error.debug_id,
                    retryable=error.retryable,
                )
            if result.attempts is not None:
                described["attempts"] = result.attempts.attempts
                described["seconds"] = round(result.attempts.seconds, 3)
            entry["error"] = described
        credentials.append(entry)
    document: dict[str, Any] = {
        "source": loaded.source,
        "active": active,
        "ok": all(result.ok for result in results),
        "credentials": credentials,
    }
    if len(results) == 2:
        document["same_technical_account"] = same_account(results)
    return document


def describe(result: Result, active: str | None, say: Callable[[str], None]) -> None:
    """The lines of one credential's report."""
    in_use = " (in use)" if result.kind == active else ""
    status = "ok" if result.ok else "FAILED"
    say(f"[{result.kind}] {LABEL[result.kind]}{in_use}: {status}")
    if result.token_url:
        say(f"  token endpoint: {result.token_url}")
    error = result.error
    if isinstance(error, ConfigError):
        say(f"  configuration error: {one_line(str(error))}")
    elif isinstance(error, TokenRequestError):
        say(f"  problem: {one_line(error.message)}")
        say(f"  error: {one_line(error.error or oauth_error_absent(error))}")
        if error.error_description:
            say(f"  description: {one_line(error.error_description)}")
        if error.status_code is not None:
            say(f"  HTTP status: {error.status_code}")
        say(f"  x-debug-id: {error.debug_id or '(none)'}")
        if result.attempts is not None:
            say(f"  attempts: {result.attempts.describe()}")
    if result.token is not None:
        claims = result.claims()

        def claim(name: str) -> str:
            value = claims.get(name)
            return one_line(str(value)) if value not in (None, "") else "(not in the token)"

        say(f"  expires: {when(result.token.expires_at)}")
        say(f"  client_id: {claim('client_id')}")
        say(f"  technical account (user_id): {claim('user_id')}")
        say(f"  org: {claim('org')}")
    for notice in result.notices:
        say(f"  note: {one_line(notice)}")


def oauth_error_absent(error: TokenRequestError) -> str:
    """What stands for a missing OAuth ``error``: none sent, or no answer to send one in."""
    return "(none given)" if error.status_code is not None else "(no answer from the endpoint)"


def same_account(results: Sequence[Result]) -> str:
    """Whether the JWT and OAuth tokens name the same technical account (user_id)."""
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
        return f"yes (user_id {one_line(str(jwt_user))} in both tokens, {same_client})"
    return "NO (the tokens carry different user_ids)"


def when(expires_at: float) -> str:
    """An expiry as a UTC time and how far away it is."""
    stamp = datetime.fromtimestamp(expires_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    left = int(expires_at - time.time())
    if left <= 0:
        return f"{stamp} (expired)"
    hours, rest = divmod(left, 3600)
    return f"{stamp} (in {hours} h {rest // 60} min)" if hours else f"{stamp} (in {rest // 60} min)"
