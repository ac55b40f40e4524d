# mypy: disable-error-code="no-untyped-call,no-any-return,attr-defined"
"""Peer libraries, measured in the same run when installed (``pip install -e '.[bench]'``).

They all talk RFC 6749 client credentials to one loopback OAuth server (``LocalOAuthServer``
from ``imstoken.testing``, with the same latency as the local IMS). Each peer is used the way
its documentation shows for a cached token; where a peer needs a custom credential class to
reach a loopback endpoint, only its transport is replaced, never its caching or refresh logic.
A peer starts each herd or stall with an expired token, which is how a refresh herd begins for
libraries that cannot fetch lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib.metadata
import json
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from imstoken.testing import LocalOAuthServer, OAuthClient

from ._subjects import Subject

SCOPE = "read write"
SECRET = "bench-secret-0123456789"


async def _apost(url: str, form: dict[str, str]) -> dict[str, Any]:
    """POST a form over a new asyncio connection and return the JSON answer.

    The peers' own async transports are aiohttp; httpx's pool would stand in badly, as a
    thousand requests queued in httpcore's pool take it tens of seconds to hand out.
    """
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        body = urlencode(form).encode()
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    if status_line.split()[1] != b"200":
        raise RuntimeError(f"token endpoint answered {status_line.decode()}")
    payload: dict[str, Any] = json.loads(rest.partition(b"\r\n\r\n")[2])
    return payload


class PeerServer(LocalOAuthServer):
    """``LocalOAuthServer`` with latency, and the lookups the stall benchmark needs."""

    def __init__(self, *, latency: float, token_lifetime: float = 3600.0) -> None:
        super().__init__(token_lifetime=token_lifetime)
        # Herds of libraries without single-flight open many connections at once: a deeper
        # accept queue than socketserver's 5, so they are counted, not reset.
        self._server.socket.listen(1024)
        self.latency = latency
        self._expiries: dict[str, float] = {}

    def _token_response(self, record: Any) -> dict[str, Any]:
        if self.latency:
            time.sleep(self.latency)
        body = super()._token_response(record)
        self._expiries[body["access_token"]] = time.time() + float(self.token_lifetime)
        return body

    def __enter__(self) -> PeerServer:
        self.start()
        return self

    def expiry(self, access_token: str) -> float:
        return self._expiries[access_token]

    def request_times(self) -> list[float]:
        with self._lock:
            return [request.at for request in self.requests]


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _form(client: OAuthClient) -> dict[str, str]:
    assert client.client_secret is not None
    return {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "scope": SCOPE,
    }


@dataclass
class Peer:
    """One peer library: how to build a fresh token source, and what its hot path calls.

    ``margin`` is "refresh when fewer than this many seconds are left" (None: the library's
    default). ``hot`` / ``ahot`` are called in the timing loop with a valid token cached; a peer
    that is only an ``httpx.Auth`` gives ``auth`` instead, whose flows the runner drives (the
    no-op flow is then subtracted).
    """

    name: str
    label: str
    make: Callable[[float | None], Subject]
    hot: Callable[[], object] | None = None
    ahot: Callable[[], Awaitable[object]] | None = None
    auth: httpx.Auth | None = None
    note: str = ""
    patch: Callable[[float], contextlib.AbstractContextManager[None]] | None = None


# ---------------------------------------------------------------- authlib


def _authlib(server: PeerServer, client: OAuthClient) -> Peer:
    import authlib.deprecate  # noqa: F401 - its "always" filter first, so ours wins below

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client

    def options(margin: float | None) -> dict[str, Any]:
        return {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "scope": SCOPE,
            "token_endpoint": server.token_url,
            "grant_type": "client_credentials",
            "token_endpoint_auth_method": "client_secret_post",
            "leeway": 60 if margin is None else margin,
        }

    def expired() -> dict[str, Any]:
        return {
            "access_token": "expired",
            "token_type": "Bearer",
            "expires_at": int(time.time()) - 10,
        }

    def make(margin: float | None) -> Subject:
        sync_client = OAuth2Client(token=expired(), **options(margin))
        holder: dict[str, Any] = {}

        def get() -> str:
            sync_client.ensure_active_token(sync_client.token)
            return str(sync_client.token["access_token"])

        async def aget() -> str:
            async_client = holder.get("client")
            if async_client is None:  # made in the loop that uses it
                async_client = holder["client"] = AsyncOAuth2Client(
                    token=expired(), **options(margin)
                )
            await async_client.ensure_active_token(async_client.token)
            return str(async_client.token["access_token"])

        async def aclose() -> None:
            if "client" in holder:
                await holder.pop("client").aclose()

        return Subject("authlib", get, aget, sync_client.close, aclose)

    hot_client = OAuth2Client(token=expired(), **options(None))
    hot_client.ensure_active_token(hot_client.token)
    async_holder: dict[str, Any] = {}

    async def ahot() -> object:
        async_client = async_holder.get("client")
        if async_client is None:
            async_client = async_holder["client"] = AsyncOAuth2Client(
                token=expired(), **options(None)
            )
            await async_client.ensure_active_token(async_client.token)
        return await async_client.ensure_active_token(async_client.token)

    token = hot_client.token
    return Peer(
        name=f"authlib {_version('authlib')}",
        label="`ensure_active_token`",
        make=make,
        hot=lambda: hot_client.ensure_active_token(token),
        ahot=ahot,
    )


# ---------------------------------------------------------------- httpx-auth


def _httpx_auth(server: PeerServer, client: OAuthClient) -> Peer:
    import httpx_auth

    def new_auth(margin: float | None) -> Any:
        return httpx_auth.OAuth2ClientCredentials(
            server.token_url,
            client.client_id,
            SECRET,
            scope=SCOPE,
            early_expiry=30.0 if margin is None else margin,
            client=httpx.Client(),
        )

    def make(margin: float | None) -> Subject:
        httpx_auth.OAuth2.token_cache.clear()
        auth = new_auth(margin)

        def get() -> str:
            request = httpx.Request("GET", "https://api.example.com/")
            flow = auth.sync_auth_flow(request)
            sent = next(flow)
            flow.close()
            return str(sent.headers["Authorization"]).split(" ", 1)[1]

        async def aget() -> str:
            request = httpx.Request("GET", "https://api.example.com/")
            flow = auth.async_auth_flow(request)
            sent = await flow.__anext__()
            await flow.aclose()
            return str(sent.headers["Authorization"]).split(" ", 1)[1]

        return Subject("httpx-auth", get, aget, auth.client.close)

    httpx_auth.OAuth2.token_cache.clear()
    hot_auth = new_auth(None)
    return Peer(
        name=f"httpx-auth {_version('httpx-auth')}",
        label="auth flow (sets the header)",
        make=make,
        auth=hot_auth,
    )


# ---------------------------------------------------------------- google-auth


def _google(server: PeerServer, client: OAuthClient) -> Peer:
    from google.auth import _credentials_async, _helpers
    from google.auth import credentials as google_credentials

    form = _form(client)

    def expiry_of(body: dict[str, Any]) -> datetime.datetime:
        return _helpers.utcnow() + datetime.timedelta(seconds=int(body["expires_in"]))

    class Credentials(google_credentials.Credentials):
        """google-auth's caching and refresh logic over a client-credentials request."""

        def __init__(self) -> None:
            super().__init__()
            self._http = httpx.Client()

        def refresh(self, request: Any) -> None:
            body = self._http.post(server.token_url, data=form).json()
            self.token = body["access_token"]
            self.expiry = expiry_of(body)

    class AsyncCredentials(_credentials_async.Credentials):
        async def refresh(self, request: Any) -> None:
            body = await _apost(server.token_url, form)
            self.token = body["access_token"]
            self.expiry = expiry_of(body)

    def make(margin: float | None) -> Subject:
        sync_credentials = Credentials()
        holder: dict[str, Any] = {}

        def get() -> str:
            headers: dict[str, str] = {}
            sync_credentials.before_request(None, "GET", "https://api.example.com/", headers)
            return headers["authorization"].split(" ", 1)[1]

        async def aget() -> str:
            credentials = holder.get("credentials")
            if credentials is None:
                credentials = holder["credentials"] = AsyncCredentials()
            headers: dict[str, str] = {}
            await credentials.before_request(None, "GET", "https://api.example.com/", headers)
            return headers["authorization"].split(" ", 1)[1]

        return Subject("google-auth", get, aget, sync_credentials._http.close)

    @contextlib.contextmanager
    def patch(margin: float) -> Iterator[None]:
        saved = _helpers.REFRESH_THRESHOLD
        _helpers.REFRESH_THRESHOLD = datetime.timedelta(seconds=margin)
        try:
            yield
        finally:
            _helpers.REFRESH_THRESHOLD = saved

    hot_credentials = Credentials()
    hot_headers: dict[str, str] = {}
    hot_credentials.before_request(None, "GET", "https://api.example.com/", hot_headers)
    async_hot: dict[str, Any] = {}

    async def ahot() -> None:
        credentials = async_hot.get("credentials")
        if credentials is None:
            credentials = async_hot["credentials"] = AsyncCredentials()
        await credentials.before_request(None, "GET", "https://api.example.com/", hot_headers)

    return Peer(
        name=f"google-auth {_version('google-auth')}",
        label="`before_request`",
        make=make,
        hot=lambda: hot_credentials.before_request(
            None, "GET", "https://api.example.com/", hot_headers
        ),
        ahot=ahot,
        note="a `Credentials` subclass whose `refresh` posts client credentials; the async "
        "figures use `google.auth._credentials_async` (its `aio` base does not refresh)",
        patch=patch,
    )


# ---------------------------------------------------------------- azure-identity


def _azure(server: PeerServer, client: OAuthClient) -> Peer:
    logging.getLogger("azure").setLevel(logging.ERROR)  # it logs every failed get_token
    from azure.core.credentials import AccessTokenInfo
    from azure.identity._internal import utils as azure_utils
    from azure.identity._internal.get_token_mixin import GetTokenMixin
    from azure.identity.aio._internal.get_token_mixin import GetTokenMixin as AsyncGetTokenMixin

    form = _form(client)

    def token_info(body: dict[str, Any]) -> AccessTokenInfo:
        return AccessTokenInfo(body["access_token"], int(time.time()) + int(body["expires_in"]))

    class Credential(GetTokenMixin):
        """azure-identity's get_token policy over a client-credentials request."""

        def __init__(self) -> None:
            super().__init__()
            self._http = httpx.Client()
            self._token: AccessTokenInfo | None = None

        def _acquire_token_silently(self, *scopes: str, **kwargs: Any) -> AccessTokenInfo | None:
            return self._token

        def _request_token(self, *scopes: str, **kwargs: Any) -> AccessTokenInfo:
            self._token = token_info(self._http.post(server.token_url, data=form).json())
            return self._token

    class AsyncCredential(AsyncGetTokenMixin):
        def __init__(self) -> None:
            super().__init__()
            self._token: AccessTokenInfo | None = None

        async def _acquire_token_silently(
            self, *scopes: str, **kwargs: Any
        ) -> AccessTokenInfo | None:
            return self._token

        async def _request_token(self, *scopes: str, **kwargs: Any) -> AccessTokenInfo:
            self._token = token_info(await _apost(server.token_url, form))
            return self._token

    def make(margin: float | None) -> Subject:
        credential = Credential()
        holder: dict[str, Any] = {}

        def get() -> str:
            return str(credential.get_token(SCOPE).token)

        async def aget() -> str:
            async_credential = holder.get("credential")
            if async_credential is None:
                async_credential = holder["credential"] = AsyncCredential()
            return str((await async_credential.get_token(SCOPE)).token)

        return Subject("azure-identity", get, aget, credential._http.close)

    @contextlib.contextmanager
    def patch(margin: float) -> Iterator[None]:
        saved = azure_utils.DEFAULT_REFRESH_OFFSET, azure_utils.DEFAULT_TOKEN_REFRESH_RETRY_DELAY
        azure_utils.DEFAULT_REFRESH_OFFSET = max(1, round(margin))
        azure_utils.DEFAULT_TOKEN_REFRESH_RETRY_DELAY = 1
        try:
            yield
        finally:
            (
                azure_utils.DEFAULT_REFRESH_OFFSET,
                azure_utils.DEFAULT_TOKEN_REFRESH_RETRY_DELAY,
            ) = saved

    hot_credential = Credential()
    hot_credential.get_token(SCOPE)
    async_hot: dict[str, Any] = {}

    async def ahot() -> object:
        credential = async_hot.get("credential")
        if credential is None:
            credential = async_hot["credential"] = AsyncCredential()
        return await credential.get_token(SCOPE)

    return Peer(
        name=f"azure-identity {_version('azure-identity')}",
        label="`get_token`",
        make=make,
        hot=lambda: hot_credential.get_token(SCOPE),
        ahot=ahot,
        note="its `GetTokenMixin` over a client-credentials request; MSAL's cache lookup is "
        "replaced by an attribute read, so its hot path here is a lower bound",
        patch=patch,
    )


BUILDERS: dict[str, Callable[[PeerServer, OAuthClient], Peer]] = {
    "authlib": _authlib,
    "httpx-auth": _httpx_auth,
    "google-auth": _google,
    "azure-identity": _azure,
}


def load_peers(server: PeerServer) -> tuple[list[Peer], dict[str, str]]:
    """The installed peers, and for the others why they were left out."""
    client = server.add_client(client_secret=SECRET, scopes=("read", "write"))
    peers: list[Peer] = []
    missing: dict[str, str] = {}
    for name, build in BUILDERS.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                peers.append(build(server, client))
        except ImportError as error:
            missing[name] = f"not installed ({error.name})"
        except Exception as error:
            missing[name] = f"could not be set up ({type(error).__name__}: {error})"
    return peers, missing
