"""Requests to the APIs (issue 11, B.4-B.6): a 401 flood never floods IMS, credentials never
follow a request to another origin, and a body that cannot be replayed never raises.

The APIs are real loopback servers (``tests/api_server.py``, and a redirecting one here); the
token endpoint is the local IMS. Intervals run on an injected monotonic clock.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import requests

import imstoken
from imstoken._adapters._origin import host_label, same_origin
from imstoken._backends._protocol import secret_material
from imstoken._caches._sealed import SealedCache
from imstoken._caches._select import open_shared_cache
from imstoken._rejections import Verdict, shared_verdict
from imstoken.testing import Credential, LocalIMS

from .api_server import ApiServer, api  # noqa: F401 - fixture
from .conftest import FakeClock


@pytest.fixture
def mono() -> FakeClock:
    """The providers' monotonic clock: the 401 interval runs on it."""
    return FakeClock(1000.0)


def provider_for(cred: Credential, mono: FakeClock, **config: Any) -> imstoken.TokenProvider:
    return imstoken.from_config(cred.config("oauth", **config), monotonic=mono)


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "(reject_refresh_interval)" in r.getMessage()]


def host_of(server: ApiServer) -> str:
    return server.url.removeprefix("http://")


def only_latest(ims: LocalIMS):  # type: ignore[no-untyped-def]
    return lambda token: bool(ims.issued) and token == ims.issued[-1]


# ---------------------------------------------------------------------- B.4: the 401 flood


def test_httpx_an_api_that_always_answers_401_gets_one_new_token_per_interval(
    ims: LocalIMS,
    cred: Credential,
    api: ApiServer,
    mono: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = provider_for(cred, mono)
    api.accept = lambda token: False
    caplog.set_level(logging.WARNING, "imstoken")
    with httpx.Client(auth=provider) as client:
        statuses = [client.get(api.url).status_code for _ in range(10)]
        assert statuses == [401] * 10
        assert ims.count() == 2  # the first token, and one replacement
        assert len(api.seen) == 11  # the first call was sent again once, no other
        (warning,) = refusals(caplog)
        assert host_of(api) in warning.getMessage()
        assert all(token not in warning.getMessage() for token in ims.issued)

        mono.advance(61)  # the interval is over: one more replacement, one more warning
        assert [client.get(api.url).status_code for _ in range(3)] == [401] * 3
    assert ims.count() == 3
    assert len(refusals(caplog)) == 2


def test_async_httpx_an_api_that_always_answers_401_gets_one_new_token_per_interval(
    ims: LocalIMS,
    cred: Credential,
    api: ApiServer,
    mono: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = provider_for(cred, mono)
    api.accept = lambda token: False
    caplog.set_level(logging.WARNING, "imstoken")

    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=provider) as client:
            statuses = [(await client.get(api.url)).status_code for _ in range(10)]
        await provider.aclose()
        return statuses

    assert asyncio.run(main()) == [401] * 10
    assert ims.count() == 2
    assert len(api.seen) == 11
    assert len(refusals(caplog)) == 1


def test_requests_an_api_that_always_answers_401_gets_one_new_token_per_interval(
    ims: LocalIMS,
    cred: Credential,
    api: ApiServer,
    mono: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = provider_for(cred, mono)
    api.accept = lambda token: False
    caplog.set_level(logging.WARNING, "imstoken")
    session = requests.Session()
    session.auth = provider.requests_auth()
    responses = [session.get(api.url) for _ in range(10)]
    assert [r.status_code for r in responses] == [401] * 10
    assert [len(r.history) for r in responses] == [1] + [0] * 9  # later 401s come back as sent
    assert ims.count() == 2
    (warning,) = refusals(caplog)
    assert host_of(api) in warning.getMessage()
    mono.advance(61)
    assert session.get(api.url).status_code == 401
    assert ims.count() == 3


def test_the_limit_is_per_credential_and_shared_by_every_provider_of_it(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    api.accept = lambda token: False
    other = ims.add_credential()
    for _ in range(3):  # a provider per request, as some apps do
        with httpx.Client(auth=provider_for(cred, mono)) as client:
            assert client.get(api.url).status_code == 401
    assert ims.count() == 2
    with httpx.Client(auth=provider_for(other, mono)) as client:
        assert client.get(api.url).status_code == 401
    assert ims.count() == 4  # another credential has its own allowance


def test_a_revoked_token_is_still_replaced_and_the_request_succeeds(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    provider = provider_for(cred, mono)
    with httpx.Client(auth=provider) as client:
        assert client.get(api.url).status_code == 200
        ims.issued.append("revoked")
        api.accept = only_latest(ims)
        assert client.get(api.url).status_code == 200
    assert ims.count() == 2


def test_concurrent_401s_share_one_replacement(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    provider = provider_for(cred, mono)
    provider.get_token()
    ims.issued.append("revoked")
    api.accept = only_latest(ims)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def call() -> None:
        with httpx.Client(auth=provider) as client:
            barrier.wait()
            statuses.append(client.get(api.url).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8  # the ones refused a replacement of their own use the new one
    assert ims.count() == 2


def test_reject_refresh_interval_is_a_config_key(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    provider = provider_for(cred, mono, reject_refresh_interval=0)  # 0: every 401 replaces
    api.accept = lambda token: False
    with httpx.Client(auth=provider) as client:
        for _ in range(3):
            client.get(api.url)
    assert ims.count() == 4
    env = imstoken.from_env(
        {
            "IMS_CREDENTIAL": "oauth",
            "IMS_CLIENT_ID": "c",
            "IMS_CLIENT_SECRET": "secret-value",
            "IMS_ORG_ID": "o@AdobeOrg",
            "IMS_SCOPES": "openid",
            "IMS_REJECT_REFRESH_INTERVAL": "5",
        }
    )
    assert env is not None
    with pytest.raises(imstoken.ConfigError, match="reject_refresh_interval"):
        imstoken.from_config(cred.config("oauth", reject_refresh_interval=-1))


def test_fleet_a_shared_record_with_another_token_is_adopted_without_asking_ims(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock, tmp_path: Any
) -> None:
    provider = provider_for(cred, mono, cache="file", cache_path=str(tmp_path))
    first = provider.get_token()
    # Another host replaced the token after its own 401: the shared record holds the new one.
    newer = imstoken.Token("token-of-another-host", "bearer", first.expires_at, "oauth")
    shared = open_shared_cache(
        "file", path=str(tmp_path), prefix="imstoken", monotonic=time.monotonic, sleep=time.sleep
    )
    assert shared is not None
    # Sealed with the credential's secret, as the other host's provider writes it.
    sealed = SealedCache(shared, lambda: secret_material(cred.client_secret))
    sealed.store(provider.cache_key, newer, time.time())
    api.accept = lambda token: token == newer.access_token
    with httpx.Client(auth=provider) as client:
        assert client.get(api.url).status_code == 200
    assert ims.count() == 1
    assert provider.get_token().access_token == newer.access_token


def test_fleet_a_shared_token_younger_than_the_interval_is_not_replaced(
    ims: LocalIMS,
    cred: Credential,
    api: ApiServer,
    mono: FakeClock,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api.accept = lambda token: False
    caplog.set_level(logging.WARNING, "imstoken")
    config = cred.config("oauth", cache="file", cache_path=str(tmp_path))
    hosts = []
    for _ in range(3):  # three processes of a fleet, one after the other
        imstoken_slots_clear()  # nothing in memory, no 401 history of its own
        hosts.append(imstoken.from_config(config, monotonic=FakeClock(5.0)))
        with httpx.Client(auth=hosts[-1]) as client:
            for _ in range(3):
                assert client.get(api.url).status_code == 401
    # The token in the shared cache is younger than the interval: no 401 replaces it.
    assert ims.count() == 1
    assert len(api.seen) == 9
    assert "shared cache" in refusals(caplog)[0].getMessage()


def test_fleet_an_old_shared_token_is_replaced_once_for_the_fleet(
    ims: LocalIMS, cred: Credential, api: ApiServer, tmp_path: Any
) -> None:
    api.accept = lambda token: False
    wall = FakeClock()
    config = cred.config("oauth", cache="file", cache_path=str(tmp_path))
    imstoken.from_config(config, clock=wall).get_token()
    wall.advance(3600)  # an hour later, the API starts to refuse it
    for _ in range(3):  # three processes of a fleet, a few seconds apart
        wall.advance(5)
        imstoken_slots_clear()
        with httpx.Client(auth=imstoken.from_config(config, clock=wall)) as client:
            for _ in range(3):
                assert client.get(api.url).status_code == 401
    assert ims.count() == 2  # one replacement for the whole fleet


def imstoken_slots_clear() -> None:
    from imstoken import _slots

    _slots.clear()


@pytest.mark.parametrize(
    ("loaded", "verdict"),
    [
        (None, Verdict.REPLACE),
        (("other", 990.0), Verdict.ADOPT),
        (("rejected", 990.0), Verdict.HOLD),
        (("rejected", 900.0), Verdict.REPLACE),
        (("rejected", 2000.0), Verdict.REPLACE),  # from the future: no trust in its age
    ],
)
def test_shared_verdict(loaded: tuple[str, float] | None, verdict: Verdict) -> None:
    rejected = imstoken.Token("rejected", "bearer", 5000.0, "oauth")
    record = (imstoken.Token(loaded[0], "bearer", 5000.0, "oauth"), loaded[1]) if loaded else None
    assert shared_verdict(record, rejected, now=1000.0, interval=60.0) is verdict


# ---------------------------------------------------------------------- B.5: other origins


class RedirectServer:
    """Answers every request with a 302 to ``target`` (another origin)."""

    def __init__(self, target: str) -> None:
        self.seen: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.seen.append(dict(self.headers.items()))
                self.send_response(302)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def redirect_to_api(api: ApiServer) -> Iterator[RedirectServer]:
    server = RedirectServer(api.url.replace("127.0.0.1", "localhost"))  # another origin
    yield server
    server.stop()


def test_requests_no_token_for_the_other_origin_of_a_redirect(
    ims: LocalIMS,
    cred: Credential,
    api: ApiServer,
    redirect_to_api: RedirectServer,
    mono: FakeClock,
) -> None:
    api.accept = lambda token: False
    session = requests.Session()
    session.auth = provider_for(cred, mono).requests_auth()
    response = session.get(redirect_to_api.url + "/data")
    assert response.status_code == 401
    assert redirect_to_api.seen[0]["Authorization"].startswith("Bearer ")
    assert all("Authorization" not in headers for headers in api.seen)
    assert ims.count() == 1  # the other origin's 401 replaced nothing


def test_httpx_a_401_from_the_other_origin_of_a_redirect_is_handed_back(
    ims: LocalIMS,
    cred: Credential,
    api: ApiServer,
    redirect_to_api: RedirectServer,
    mono: FakeClock,
) -> None:
    api.accept = lambda token: False
    with httpx.Client(auth=provider_for(cred, mono), follow_redirects=True) as client:
        response = client.get(redirect_to_api.url + "/data")
    assert response.status_code == 401
    assert len(redirect_to_api.seen) == 1  # not sent again
    assert all("Authorization" not in headers for headers in api.seen)
    assert ims.count() == 1


def test_async_httpx_a_401_from_the_other_origin_of_a_redirect_is_handed_back(
    ims: LocalIMS,
    cred: Credential,
    api: ApiServer,
    redirect_to_api: RedirectServer,
    mono: FakeClock,
) -> None:
    api.accept = lambda token: False
    provider = provider_for(cred, mono)

    async def main() -> int:
        async with httpx.AsyncClient(auth=provider, follow_redirects=True) as client:
            response = await client.get(redirect_to_api.url + "/data")
        await provider.aclose()
        return response.status_code

    assert asyncio.run(main()) == 401
    assert len(redirect_to_api.seen) == 1
    assert all("Authorization" not in headers for headers in api.seen)
    assert ims.count() == 1


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("https://api.example/a", "https://API.example:443/b?x=1", True),
        ("http://api.example/a", "http://api.example:80/", True),
        ("http://api.example/a", "https://api.example/a", False),
        ("https://api.example/a", "https://api.example:8443/a", False),
        ("https://api.example/a", "https://evil.example/a", False),
        ("https://api.example/a", "https://api.example.evil.example/a", False),
        ("https://api.example/a", "https://api.example:bad/a", False),
    ],
)
def test_same_origin(first: str, second: str, same: bool) -> None:
    assert same_origin(first, second) is same


def test_host_label_drops_user_info_and_path() -> None:
    assert host_label("https://user:pw@api.example:8443/p?q=1") == "api.example:8443"


# ---------------------------------------------------------------------- B.6: streamed bodies


LENGTH = {"Content-Length": "13"}  # the test server reads no chunked body


def chunks() -> Iterator[bytes]:
    yield b"part-1;"
    yield b"part-2"


async def achunks() -> AsyncIterator[bytes]:
    yield b"part-1;"
    yield b"part-2"


def revoke_first_token(ims: LocalIMS, api: ApiServer, provider: imstoken.TokenProvider) -> None:
    provider.get_token()
    ims.issued.append("revoked")
    api.accept = only_latest(ims)


def test_httpx_a_401_to_a_generator_body_is_handed_back_not_stream_consumed(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    provider = provider_for(cred, mono)
    revoke_first_token(ims, api, provider)
    with httpx.Client(auth=provider) as client:
        response = client.post(api.url, content=chunks(), headers=LENGTH)
    assert response.status_code == 401
    assert api.bodies == [b"part-1;part-2"]
    assert ims.count() == 1  # no token minted for a request that cannot be sent again


def test_async_httpx_a_401_to_an_async_generator_body_is_handed_back(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    provider = provider_for(cred, mono)
    revoke_first_token(ims, api, provider)

    async def main() -> int:
        async with httpx.AsyncClient(auth=provider) as client:
            response = await client.post(api.url, content=achunks(), headers=LENGTH)
        await provider.aclose()
        return response.status_code

    assert asyncio.run(main()) == 401
    assert len(api.seen) == 1


def test_httpx_a_body_read_first_or_multipart_is_sent_again(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    provider = provider_for(cred, mono)
    revoke_first_token(ims, api, provider)
    with httpx.Client(auth=provider) as client:
        request = client.build_request("POST", api.url, content=chunks())
        request.read()  # buffered by the caller: replayable
        request.headers["Content-Length"] = "13"  # the test server reads no chunked body
        del request.headers["Transfer-Encoding"]
        assert client.send(request).status_code == 200
        ims.issued.append("revoked again")
        mono.advance(61)
        upload = client.post(api.url, files={"f": ("a.txt", io.BytesIO(b"file-body"))})
        assert upload.status_code == 200
    assert api.bodies[0] == api.bodies[1] == b"part-1;part-2"
    assert b"file-body" in api.bodies[3] and api.bodies[2] == api.bodies[3]


def test_requests_a_401_to_a_generator_body_is_handed_back(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    provider = provider_for(cred, mono)
    revoke_first_token(ims, api, provider)
    session = requests.Session()
    session.auth = provider.requests_auth()
    response = session.post(api.url, data=chunks(), headers=LENGTH, timeout=5)
    assert response.status_code == 401
    assert len(api.seen) == 1  # never sent again with an empty body
    assert ims.count() == 1


def test_requests_a_file_body_is_rewound_and_sent_again(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    provider = provider_for(cred, mono)
    revoke_first_token(ims, api, provider)
    session = requests.Session()
    session.auth = provider.requests_auth()
    body = io.BytesIO(b"xxfile-body")
    body.seek(2)  # sent from where it stands
    response = session.post(api.url, data=body)
    assert response.status_code == 200
    assert api.bodies == [b"file-body", b"file-body"]


def test_the_401_history_outlives_thousands_of_other_credentials(
    ims: LocalIMS, cred: Credential, api: ApiServer, mono: FakeClock
) -> None:
    api.accept = lambda token: False
    held = provider_for(cred, mono)  # the app keeps using this credential: its token stays
    with httpx.Client(auth=held) as client:
        assert client.get(api.url).status_code == 401
    assert ims.count() == 2  # the first token and its one 401-driven replacement
    # A service for many organizations builds providers for 5,000 other credentials...
    for index in range(5000):
        other = imstoken.from_config(
            {"credential": "oauth", "client_id": f"tenant-{index}", "client_secret": "s",
             "org_id": "ABCDEF123456@AdobeOrg", "scopes": ["openid"]}
        )  # fmt: skip
        other.close()
    # ...and a provider per call for this one: within the interval, a 401 still goes back.
    with httpx.Client(auth=provider_for(cred, mono)) as client:
        assert client.get(api.url).status_code == 401
    assert ims.count() == 2


def test_a_401_replacement_takes_any_other_fresh_shared_token_however_old(
    ims: LocalIMS, cred: Credential, tmp_path: Any
) -> None:
    # Another process of the fleet stored its replacement just before this one, having read
    # the record, decided to replace the rejected token: the fetch must take that one.
    provider = imstoken.from_config(cred.config("oauth", cache="file", cache_path=str(tmp_path)))
    rejected = provider.get_token()
    shared = open_shared_cache(
        "file", path=str(tmp_path), prefix="imstoken", monotonic=time.monotonic, sleep=time.sleep
    )
    assert shared is not None
    other = imstoken.Token("replaced-by-another-host", "bearer", rejected.expires_at, "oauth")
    started = time.time()
    SealedCache(shared, lambda: secret_material(cred.client_secret)).store(
        provider.cache_key,
        other,
        started - 1.0,  # stored before this fetch began
    )
    fetcher = provider._fetcher
    entry = fetcher.fetch_sync(True, started, rejected.access_token)
    assert entry.token.access_token == other.access_token
    assert ims.count() == 1
    # A plain force_refresh still wants a token newer than its start.
    assert fetcher.fetch_sync(True, started).token.access_token != other.access_token
    assert ims.count() == 2
    provider.close()
