"""``LocalIMS``: a real loopback Adobe IMS, with its ``Credential``, ``Fault`` and request records.

``LocalIMS`` serves ``/ims/token/v3`` (and ``v2``) and ``/ims/exchange/jwt`` on 127.0.0.1. It
checks client secrets and scopes, verifies JWT signatures against registered public keys and
every Adobe claim, issues tokens with a chosen lifetime, counts requests per endpoint, and can be
told to fail (status, body, delay, ``Retry-After``)::

    with LocalIMS() as ims:
        cred = ims.add_credential()            # generates ids, secret and an RSA key pair
        provider = imstoken.from_config(cred.config("oauth"))
        provider.get_token()
        assert ims.count("oauth") == 1
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import struct
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from ._secrets import generate_private_key, public_pem, register_secret
from ._server import FaultBase, LoopbackServer, sniff_content_type

OAUTH_PATHS = ("/ims/token/v3", "/ims/token/v2")
JWT_PATHS = ("/ims/exchange/jwt", "/ims/exchange/jwt/")


@dataclass
class Credential:
    """A credential registered with the local IMS (both kinds: same ids, like a migrated one)."""

    client_id: str
    client_secret: str
    org_id: str
    technical_account_id: str
    scopes: tuple[str, ...]
    metascopes: tuple[str, ...]
    private_key: str | None = field(default=None, repr=False)
    public_key: str | None = None
    host: str = ""
    oauth_enabled: bool = True
    jwt_enabled: bool = True

    def __repr__(self) -> str:
        return f"Credential(client_id={self.client_id!r}, org_id={self.org_id!r})"

    def config(self, credential: str = "oauth", **extra: Any) -> dict[str, Any]:
        """A flat imstoken configuration for this credential against the local IMS."""
        own = self._oauth_settings() if credential == "oauth" else self._jwt_settings()
        return {**self._shared_settings(credential), **own, **extra}

    def both(self, credential: str = "jwt", **extra: Any) -> dict[str, Any]:
        """A configuration with both an ``[oauth]`` and a ``[jwt]`` table: the cut-over shape."""
        tables = {"oauth": self._oauth_settings(), "jwt": self._jwt_settings()}
        return {**self._shared_settings(credential), **tables, **extra}

    def _shared_settings(self, credential: str) -> dict[str, Any]:
        """The settings both credential kinds use (the top of every configuration)."""
        return {
            "credential": credential,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "org_id": self.org_id,
            "ims_host": self.host,
        }

    def _oauth_settings(self) -> dict[str, Any]:
        return {"scopes": list(self.scopes)}

    def _jwt_settings(self) -> dict[str, Any]:
        return {
            "technical_account_id": self.technical_account_id,
            "metascopes": list(self.metascopes),
            "private_key": self.private_key,
        }


@dataclass
class Fault(FaultBase):
    """One injected failure: answer ``status`` with ``body`` after ``delay`` seconds."""

    # status, body, delay, retry_after and headers come from FaultBase, in that order
    endpoint: str | None = None  # "oauth", "jwt" or None for both
    drop: bool = False  # close the connection without an answer
    reset: bool = False  # send the head and half the body, then reset the connection (RST)
    trickle: float = 0.0  # seconds between single bytes of the answer (a slow trickle)
    trickle_head: bool = True  # trickle the status line and headers too, not only the body

    def target(self) -> str | None:
        """``endpoint``: the request kind this fault may answer."""
        return self.endpoint


@dataclass
class RecordedRequest:
    """What the local IMS received (form values included: this is a test helper)."""

    endpoint: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]
    at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalIMS(LoopbackServer[RecordedRequest, Fault, Credential]):
    """A threaded loopback IMS. Use as a context manager, or ``start()`` / ``stop()``."""

    _thread_name = "local-ims"
    _get_answer = {"error": "method_not_allowed"}
    _content_type = "application/json;charset=UTF-8"

    def __init__(
        self,
        *,
        token_lifetime: float = 86400.0,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.latency = latency
        super().__init__(host=host, port=port, token_lifetime=token_lifetime, fault_type=Fault)

    # ------------------------------------------------------------------ setup

    def add_credential(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        org_id: str | None = None,
        technical_account_id: str | None = None,
        scopes: Sequence[str] = ("openid", "AdobeID", "read_organizations"),
        metascopes: Sequence[str] = ("ent_analytics_bulk_ingest_sdk",),
        private_key: str | None = None,
        public_key: str | None = None,
        oauth: bool = True,
        jwt: bool = True,
    ) -> Credential:
        """Register a credential. Missing ids, the secret and an RSA key pair are generated."""
        if private_key is None and public_key is None:
            private_key = generate_private_key()
        if public_key is None and private_key is not None:
            public_key = public_pem(private_key)
        credential = Credential(
            client_id=client_id or uuid.uuid4().hex,
            client_secret=client_secret or "p8e-" + secrets.token_urlsafe(24),
            org_id=org_id or f"{uuid.uuid4().hex[:24].upper()}@AdobeOrg",
            technical_account_id=technical_account_id
            or f"{uuid.uuid4().hex[:24].upper()}@techacct.adobe.com",
            scopes=tuple(scopes),
            metascopes=tuple(metascopes),
            private_key=private_key,
            public_key=public_key,
            host=self.url,
            oauth_enabled=oauth,
            jwt_enabled=jwt,
        )
        register_secret(credential.client_secret)
        register_secret(credential.private_key)
        return self._register(credential.client_id, credential)

    def remove_credential(self, client_id: str) -> None:
        """Forget a credential: later requests get ``invalid_client`` (a deleted credential)."""
        self._unregister(client_id)

    # ------------------------------------------------------------------ inspection

    def count(self, endpoint: str | None = None) -> int:
        """Requests received: for ``"oauth"``, ``"jwt"``, or all of them."""
        return self._count(endpoint)

    # ------------------------------------------------------------------ protocol

    def _standard_headers(self) -> dict[str, str]:
        return {"x-debug-id": str(uuid.uuid4())}

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path, form = self._read_form(handler)
        if path in OAUTH_PATHS:
            endpoint = "oauth"
        elif path in JWT_PATHS:
            endpoint = "jwt"
        else:
            endpoint = "unknown"
        register_secret(form.get("jwt_token"))
        record = RecordedRequest(endpoint, path, form, dict(handler.headers.items()), time.time())
        fault = self._receive(endpoint, record)
        if self.latency:
            time.sleep(self.latency)
        if fault is not None:
            self._apply_fault(handler, fault)
            return
        if endpoint == "unknown":
            self._error(handler, 404, "not_found", "no such endpoint")
            return
        status, body = self._oauth(form) if endpoint == "oauth" else self._jwt(form)
        self._reply(handler, status, body)

    def _apply_fault(self, handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.delay:
            self._stopping.wait(fault.delay)  # stop() does not wait for a long delay
        if fault.drop:
            self._drop(handler)
            return
        headers = self._fault_headers(fault)
        body = fault.payload()
        content_type = sniff_content_type(body)
        if fault.reset or fault.trickle:
            self._raw_reply(handler, fault, body, headers, content_type)
            return
        self._reply(handler, fault.status, body, headers, content_type)

    def _raw_reply(
        self,
        handler: BaseHTTPRequestHandler,
        fault: Fault,
        body: bytes,
        headers: Mapping[str, str],
        content_type: str,
    ) -> None:
        """Write the answer by hand: cut off mid-body (``reset``) or byte by byte (``trickle``)."""
        try:
            phrase = HTTPStatus(fault.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [
            f"HTTP/1.1 {fault.status} {phrase}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in self._standard_headers().items()),
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        handler.close_connection = True
        connection = handler.connection
        try:
            if fault.reset:
                connection.sendall(head + body[: len(body) // 2])
                # Linger 0: close() sends a TCP RST instead of an orderly FIN.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()
                return
            if not fault.trickle_head:
                connection.sendall(head)
            for byte in head + body if fault.trickle_head else body:
                if self._stopping.wait(fault.trickle):
                    return
                connection.sendall(bytes((byte,)))
        except OSError:
            return  # the client gave up: that is the point of the exercise

    def _error(
        self, handler: BaseHTTPRequestHandler, status: int, error: str, description: str
    ) -> None:
        self._reply(handler, status, {"error": error, "error_description": description})

    def _issue(self, credential: Credential, kind: str) -> str:
        now_ms = int(time.time() * 1000)
        header = _b64(json.dumps({"alg": "RS256", "x5u": "local-ims", "kid": "local"}).encode())
        payload = _b64(
            json.dumps(
                {
                    "id": uuid.uuid4().hex,
                    "type": "access_token",
                    "client_id": credential.client_id,
                    "user_id": credential.technical_account_id,
                    "org": credential.org_id,
                    "as": "local-ims",
                    "created_at": str(now_ms),
                    "expires_in": str(int(self.token_lifetime * 1000)),
                    "scope": ",".join(credential.scopes),
                    "credential": kind,
                }
            ).encode()
        )
        token = f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"
        register_secret(token)
        register_secret(token.rsplit(".", 1)[1])  # the signature alone is a leak too
        self._note_issued(token)
        return token

    def _client(self, form: Mapping[str, str]) -> tuple[Credential | None, dict[str, str] | None]:
        client_id = form.get("client_id")
        if not client_id:
            return None, {"error": "invalid_request", "error_description": "client_id missing"}
        credential = self._registered(client_id)
        if credential is None or not secrets.compare_digest(
            form.get("client_secret", ""), credential.client_secret
        ):
            return None, {"error": "invalid_client", "error_description": "invalid client"}
        return credential, None

    def _oauth(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "grant_type"}
        credential, error = self._client(form)
        if credential is None:
            return 401, error or {}
        if not credential.oauth_enabled:
            return 400, {"error": "invalid_client", "error_description": "no OAuth credential"}
        requested = [s for s in form.get("scope", "").split(",") if s]
        if not requested or not set(requested) <= set(credential.scopes):
            return 400, {
                "error": "invalid_scope",
                "error_description": "scope must be a comma-separated subset of the binding",
            }
        return 200, {
            "access_token": self._issue(credential, "oauth"),
            "token_type": "bearer",
            "expires_in": int(self.token_lifetime),
        }

    def _jwt(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        credential, error = self._client(form)
        if credential is None:
            return 401, error or {}
        if not credential.jwt_enabled or credential.public_key is None:
            return 400, {"error": "invalid_client", "error_description": "no JWT credential"}
        assertion = form.get("jwt_token")
        if not assertion:
            return 400, {"error": "invalid_request", "error_description": "jwt_token missing"}
        problem = self._verify_assertion(credential, assertion)
        if problem is not None:
            return 400, problem
        return 200, {
            "token_type": "bearer",
            "access_token": self._issue(credential, "jwt"),
            "expires_in": int(self.token_lifetime * 1000),  # milliseconds, as Adobe does
        }

    def _verify_assertion(self, credential: Credential, assertion: str) -> dict[str, str] | None:
        assert credential.public_key is not None
        try:
            key: RSAKey | ECKey = RSAKey.import_key(credential.public_key)
            decoded = jwt.decode(assertion, key, algorithms=["RS256"])
        except (JoseError, ValueError, TypeError):
            return {"error": "invalid_signature", "error_description": "JWT signature invalid"}
        claims = decoded.claims
        host = self.url
        expected = {
            "iss": credential.org_id,
            "sub": credential.technical_account_id,
            "aud": f"{host}/c/{credential.client_id}",
        }
        for name, value in expected.items():
            if claims.get(name) != value:
                return {"error": "invalid_token", "error_description": f"JWT claim {name} is wrong"}
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, int) or exp <= now - 5:
            return {"error": "invalid_token", "error_description": "JWT expired or exp missing"}
        if exp > now + 86400:
            return {"error": "invalid_token", "error_description": "JWT exp too far ahead"}
        metascopes = [name[len(f"{host}/s/") :] for name in claims if name.startswith(f"{host}/s/")]
        for name in metascopes:
            if claims.get(f"{host}/s/{name}") is not True:
                return {"error": "invalid_token", "error_description": "metascope claim not true"}
        if not metascopes or not set(metascopes) <= set(credential.metascopes):
            return {
                "error": "invalid_scope",
                "error_description": "The metascopes in the JWT are not a subset of the "
                "metascopes in the binding.",
            }
        return None
