"""Secret rotation: ``client_secrets = [old, new]`` survives the revocation of ``old``."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import imstoken
from imstoken._backends import TokenRequest
from imstoken._cli import main
from imstoken._rotation import RotatingBackend
from imstoken.testing import Credential, LocalIMS, LocalOAuthServer
from imstoken.testing._oauth_client import OAuthClient
from tests.conftest import FakeClock

LIFETIME = 3600.0
POLICY = {"refresh_window": 600, "min_validity": 60}


@dataclass
class Server:
    """One token server under test, with what the scenario needs from it."""

    config: dict[str, Any]
    revoke_old: Callable[[], None]
    secrets_sent: Callable[[], list[str]]


def _new_secret(ims: LocalIMS) -> str:
    """A second secret, registered with the leak scan (made by a throwaway credential)."""
    other = ims.add_credential()
    ims.remove_credential(other.client_id)
    return other.client_secret


@pytest.fixture
def adobe(ims: LocalIMS, cred: Credential) -> Iterator[tuple[Server, str, str]]:
    ims.token_lifetime = LIFETIME
    old, new = cred.client_secret, _new_secret(ims)
    config = cred.config("oauth", **POLICY)
    del config["client_secret"]
    config["client_secrets"] = [old, new]

    def revoke_old() -> None:
        cred.client_secret = new  # Adobe: "new" was added earlier, "old" is deleted now

    def sent() -> list[str]:
        return [request.form["client_secret"] for request in ims.requests]

    return Server(config, revoke_old, sent), old, new


@pytest.fixture
def standard(local_oauth: LocalOAuthServer, ims: LocalIMS) -> Iterator[tuple[Server, str, str]]:
    server = local_oauth
    server.token_lifetime = LIFETIME
    client: OAuthClient = server.add_client(auth_methods=("client_secret_post",))
    old, new = client.client_secret, _new_secret(ims)
    assert old is not None
    config = client.config("oauth", client_auth="client_secret_post", **POLICY)
    del config["client_secret"]
    config["client_secrets"] = [old, new]

    def revoke_old() -> None:
        client.client_secret = new

    def sent() -> list[str]:
        return [request.form["client_secret"] for request in server.requests]

    return Server(config, revoke_old, sent), old, new


class Tokens:
    """Counts new tokens (``on_token``) so a test can wait for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self, token: imstoken.Token) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.count >= count, timeout=30)


def run_callers(
    provider: imstoken.TokenProvider, clock: FakeClock, during: Callable[[], None]
) -> tuple[int, int]:
    """50 threads and 200 asyncio tasks call the provider while ``during`` runs.

    Returns (calls, failed calls): a failed call raised, or got a token expired on ``clock``.
    """
    stop = threading.Event()
    started = threading.Barrier(51 + 1)
    lock = threading.Lock()
    tally = {"calls": 0, "failed": 0}

    def note(token: imstoken.Token | None, began: float) -> None:
        # Judged against the clock when the call began: the test moves the clock by most of a
        # day in one step, which a call in flight across that step could not have foreseen.
        with lock:
            tally["calls"] += 1
            if token is None or token.expires_at <= began:
                tally["failed"] += 1

    def thread_caller() -> None:
        started.wait()
        while not stop.is_set():
            began = clock()
            try:
                note(provider.get_token(), began)
            except imstoken.ImsTokenError:
                note(None, began)
            stop.wait(0.001)  # pacing, so 50 threads leave the server some CPU

    async def task_caller() -> None:
        while not stop.is_set():
            began = clock()
            try:
                note(await provider.aget_token(), began)
            except imstoken.ImsTokenError:
                note(None, began)
            await asyncio.sleep(0.001)

    async def tasks() -> None:
        running = [asyncio.create_task(task_caller()) for _ in range(200)]
        started.wait()
        await asyncio.gather(*running)

    threads = [threading.Thread(target=thread_caller) for _ in range(50)]
    threads.append(threading.Thread(target=asyncio.run, args=(tasks(),)))
    for thread in threads:
        thread.start()
    started.wait()
    try:
        during()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return tally["calls"], tally["failed"]


@pytest.mark.parametrize("profile", ["adobe", "standard"])
def test_revoking_the_first_secret_mid_run_fails_no_call_and_costs_one_request(
    profile: str, request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    server, old, new = request.getfixturevalue(profile)
    tokens = Tokens()
    # No spread: the clock steps below land where the background refresh starts.
    policy = imstoken.RefreshPolicy(refresh_spread=0.0)
    provider = imstoken.from_config(
        server.config, clock=clock, monotonic=clock, on_token=tokens, policy=policy
    )
    with provider:
        provider.get_token()
        assert server.secrets_sent() == [old]

        def rotate_while_called() -> None:
            server.revoke_old()
            clock.advance(LIFETIME - 300)  # stale, still valid: a background refresh starts
            tokens.wait_for(2)
            clock.advance(LIFETIME - 300)  # and the next refresh
            tokens.wait_for(3)

        calls, failed = run_callers(provider, clock, rotate_while_called)
    sent = ["old" if secret == old else "new" for secret in server.secrets_sent()]
    extra = len(sent) - 3  # without the revocation: one request per token
    print(f"\nrotation ({profile}): {calls} calls, {failed} failed, {extra} extra, sent {sent}")
    assert calls > 250
    assert failed == 0
    # One extra request (old refused), then only the new secret.
    assert server.secrets_sent() == [old, old, new, new]


def test_the_switch_is_one_warning_naming_the_index_not_the_value(
    adobe: tuple[Server, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, old, new = adobe
    server.revoke_old()
    with caplog.at_level(logging.WARNING, logger="imstoken"), imstoken.from_config(
        server.config
    ) as provider:
        provider.get_token()
        provider.get_token(force_refresh=True)
    switches = [r for r in caplog.records if "client_secrets[1]" in r.getMessage()]
    assert len(switches) == 1
    assert "client_secrets[0] was refused" in switches[0].getMessage()
    assert all(old not in r.getMessage() and new not in r.getMessage() for r in caplog.records)
    assert server.secrets_sent() == [old, new, new]


def test_the_accepted_secret_holds_for_every_provider_of_the_credential(
    adobe: tuple[Server, str, str],
) -> None:
    server, old, new = adobe
    server.revoke_old()
    with imstoken.from_config(server.config) as first:
        first.get_token()
    with imstoken.from_config(server.config) as second:
        second.get_token(force_refresh=True)
    assert server.secrets_sent() == [old, new, new]


def test_when_every_secret_is_refused_the_error_is_invalid_client_and_nothing_switches(
    adobe: tuple[Server, str, str], ims: LocalIMS, cred: Credential
) -> None:
    server, old, new = adobe
    ims.remove_credential(cred.client_id)
    with imstoken.from_config(server.config) as provider:
        with pytest.raises(imstoken.TokenRequestError) as caught:
            provider.get_token()
        assert caught.value.error == "invalid_client"
        # The same refusal again, without a request (tests/test_refusal_pause.py).
        with pytest.raises(imstoken.TokenRequestError):
            provider.get_token()
        with pytest.raises(imstoken.TokenRequestError):
            provider.get_token(force_refresh=True)
    # Each fetch tried each secret once, old first both times.
    assert server.secrets_sent() == [old, new, old, new]


def test_other_refusals_do_not_try_the_next_secret(
    adobe: tuple[Server, str, str], ims: LocalIMS
) -> None:
    server, _old, _ = adobe
    ims.fail_next(status=400, body={"error": "invalid_scope"})
    with imstoken.from_config(server.config) as provider, pytest.raises(
        imstoken.TokenRequestError
    ):
        provider.get_token()
    assert ims.count() == 1


def test_a_single_secret_is_a_plain_backend_with_no_retry_on_invalid_client(
    ims: LocalIMS, cred: Credential
) -> None:
    config = cred.config("oauth")
    cred.client_secret = "changed-on-the-server"
    with imstoken.from_config(config) as provider, pytest.raises(imstoken.TokenRequestError):
        provider.get_token()
    assert ims.count() == 1


@dataclass(frozen=True)
class Stub:
    secret: str
    credential: str = "oauth"
    token_url: str = "https://example.test/token"

    def build_request(self, now: float) -> TokenRequest:
        return TokenRequest(self.token_url, {"client_secret": self.secret})

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, sent_at: float
    ) -> imstoken.Token:
        raise NotImplementedError

    def sealing_material(self) -> bytes:
        return self.secret.encode()


def test_sealing_material_follows_the_active_secret() -> None:
    rotating = RotatingBackend((Stub("a"), Stub("b")), identity="test-sealing")  # type: ignore[arg-type]
    assert rotating.sealing_material() == b"a"
    _, _, generation = rotating.snapshot()
    rotating.accept(1, generation)
    assert rotating.sealing_material() == b"b"
    assert rotating.build_request(0).form == {"client_secret": "b"}


def test_check_reports_each_secret_by_index_and_never_prints_one(
    adobe: tuple[Server, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    server, old, new = adobe
    server.revoke_old()
    path = tmp_path / "ims.json"
    path.write_text(json.dumps(server.config))
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "client_secrets[0]: refused (invalid_client)" in out
    assert "client_secrets[1]: accepted" in out
    assert old not in out and new not in out
