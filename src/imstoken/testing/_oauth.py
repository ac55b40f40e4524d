"""A real loopback OAuth 2.0 token endpoint for the standard profile (re-exported by ``testing``).

``LocalOAuthServer`` serves one token URL on 127.0.0.1. It verifies every client authentication
method (``client_secret_basic`` per RFC 6749 §2.3.1, ``client_secret_post``, ``private_key_jwt``
per RFC 7523 §2.2 and §3, including ``jti`` replay), verifies JWT-bearer grant assertions
(RFC 7523 §2.1), issues tokens with a chosen lifetime and ``token_type`` (or no ``expires_in``),
counts requests, and can be told to fail::

    with LocalOAuthServer() as server:
        client = server.add_client()                 # a secret and an RSA key pair
        provider = imstoken.from_config(client.config("oauth"))
        provider.get_token()
        assert server.count("oauth") == 1
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote_plus

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, import_key

from .. import _slots
from .._backends import unverified_claims, unverified_header
from ._server import FaultBase, LoopbackServer, new_private_pem

__all__ = ["LocalOAuthServer", "OAuthClient", "OAuthFault", "local_oauth"]

CLIENT_CREDENTIALS_GRANT = "client_credentials"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
_RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

VerifyKey = RSAKey | ECKey
Problem = tuple[int, str, str]  # status, OAuth error code, description


def _verify_key(public_key: str | Mapping[str, Any] | None, private_key: str | None) -> VerifyKey:
    """A joserfc public key from a PEM (public or private) or a JWK mapping."""
    if isinstance(public_key, Mapping):
        key = import_key(dict(public_key))
    else:
        pem = (public_key or private_key or "").encode()
        loaded: Any
        if b"PRIVATE KEY" in pem:
            # Only the public half is used; skipping the slow RSA self-check is safe here.
            loaded = serialization.load_pem_private_key(
                pem, password=None, unsafe_skip_rsa_key_validation=True
            ).public_key()
        else:
            loaded = serialization.load_pem_public_key(pem)
        if isinstance(loaded, rsa.RSAPublicKey):
            key = RSAKey.import_key(loaded)
        elif isinstance(loaded, ec.EllipticCurvePublicKey):
            key = ECKey.import_key(loaded)
        else:
            raise ValueError("only RSA and EC public keys are supported")
    if not isinstance(key, RSAKey | ECKey):
        raise ValueError("only RSA and EC public keys are supported")
    return key


def _algorithms(key: VerifyKey) -> list[str]:
    if isinstance(key, RSAKey):
        return list(_RSA_ALGORITHMS)
    return [_EC_ALGORITHMS.get(str(key.curve_name), "ES256")]


@dataclass
class OAuthClient:
    """A client registered with :class:`LocalOAuthServer`.

    ``issuer`` is the ``iss`` its JWT-bearer grant assertions carry (default: the client id);
    ``subject``, when set, is the ``sub`` they must carry. With ``require_kid`` every assertion
    must name ``key_id`` in its header.
    """

    client_id: str
    token_url: str
    client_secret: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    verify_key: VerifyKey | None = field(default=None, repr=False)
    key_id: str | None = None
    require_kid: bool = False
    auth_methods: tuple[str, ...] = AUTH_METHODS
    grants: tuple[str, ...] = ("oauth", "jwt")
    scopes: tuple[str, ...] = ("read", "write")
    issuer: str = ""
    subject: str | None = None

    def __post_init__(self) -> None:
        self.issuer = self.issuer or self.client_id

    def config(
        self, credential: str = "oauth", *, client_auth: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A flat ``profile = "standard"`` configuration for this client."""
        config: dict[str, Any] = {
            "credential": credential,
            "profile": "standard",
            "token_url": self.token_url,
            "client_id": self.client_id,
            "scopes": list(self.scopes),
        }
        if credential == "oauth" and client_auth is None:
            client_auth = "client_secret_basic" if self.client_secret else "private_key_jwt"
        if client_auth is not None:
            config["client_auth"] = client_auth
        if client_auth in ("client_secret_basic", "client_secret_post"):
            config["client_secret"] = self.client_secret
        if (credential == "jwt" or client_auth == "private_key_jwt") and self.private_key:
            config["private_key"] = self.private_key
        if self.key_id is not None:
            config["key_id"] = self.key_id
        if credential == "jwt":
            if self.issuer != self.client_id:
                config["issuer"] = self.issuer
            if self.subject is not None:
                config["subject"] = self.subject
        config.update(extra)
        return config


@dataclass
class OAuthFault(FaultBase):
    """One injected failure: answer ``status`` with ``body`` after ``delay`` seconds."""

    # status, body, delay, retry_after and headers come from FaultBase, in that order
    credential: str | None = None  # "oauth" (client credentials), "jwt" (JWT-bearer) or both
    drop: bool = False  # close the connection without an answer


@dataclass
class OAuthRequest:
    """What the server received and concluded (form values included: this is a test helper)."""

    credential: str  # "oauth", "jwt" or "unknown"
    path: str
    form: dict[str, str]
    headers: dict[str, str]
    at: float
    auth_method: str | None = None
    client_id: str | None = None
    assertion_header: dict[str, Any] = field(default_factory=dict)
    assertion_claims: dict[str, Any] = field(default_factory=dict)
    client_assertion_claims: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class LocalOAuthServer(LoopbackServer[OAuthRequest, OAuthFault]):
    """A threaded loopback OAuth 2.0 token endpoint. Use as a context manager."""

    _thread_name = "local-oauth"
    _get_answer = {"error": "invalid_request", "error_description": "POST"}

    def __init__(
        self,
        *,
        token_lifetime: float = 3600.0,
        token_type: str = "Bearer",
        include_expires_in: bool = True,
        path: str = "/oauth2/token",
        host: str = "127.0.0.1",
        port: int = 0,
        max_assertion_lifetime: float = 3600.0,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_lifetime = token_lifetime
        self.token_type = token_type
        self.include_expires_in = include_expires_in
        self.path = path
        self.max_assertion_lifetime = max_assertion_lifetime
        self.leeway = leeway
        self.clock = clock
        self._clients: dict[str, OAuthClient] = {}
        self._seen_jti: dict[str, float] = {}
        super().__init__(host=host, port=port)

    # ------------------------------------------------------------------ lifecycle

    @property
    def token_url(self) -> str:
        """The token endpoint (also the ``aud`` that assertions must carry)."""
        return self.url + self.path

    # ------------------------------------------------------------------ setup

    def add_client(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        with_secret: bool = True,
        private_key: str | None = None,
        public_key: str | Mapping[str, Any] | None = None,
        key_kind: str = "RSA",
        key_id: str | None = None,
        require_kid: bool = False,
        auth_methods: Sequence[str] = AUTH_METHODS,
        grants: Sequence[str] = ("oauth", "jwt"),
        scopes: Sequence[str] = ("read", "write"),
        issuer: str | None = None,
        subject: str | None = None,
    ) -> OAuthClient:
        """Register a client. A secret and a key pair (``key_kind`` RSA or EC) are generated
        unless given; ``public_key`` (PEM or JWK) alone registers a key whose private half the
        test keeps. ``with_secret=False`` makes a secret-less client.
        """
        if private_key is None and public_key is None:
            private_key = new_private_pem(key_kind)
        if client_secret is None and with_secret:
            client_secret = "s3cr:t%+" + secrets.token_urlsafe(18)  # ':' '%' '+' test §2.3.1
        client = OAuthClient(
            client_id=client_id or "client-" + uuid.uuid4().hex[:12],
            token_url=self.token_url,
            client_secret=client_secret,
            private_key=private_key,
            verify_key=_verify_key(public_key, private_key),
            key_id=key_id,
            require_kid=require_kid,
            auth_methods=tuple(auth_methods),
            grants=tuple(grants),
            scopes=tuple(scopes),
            issuer=issuer or "",
            subject=subject,
        )
        with self._lock:
            self._clients[client.client_id] = client
        return client

    def remove_client(self, client_id: str) -> None:
        """Forget a client: later requests get ``invalid_client``."""
        with self._lock:
            self._clients.pop(client_id, None)

    def fail_next(self, count: int = 1, **fault: Any) -> None:
        """Answer the next ``count`` requests with an ``OAuthFault(**fault)``."""
        self._add_faults([OAuthFault(**fault) for _ in range(count)])

    def count(self, credential: str | None = None) -> int:
        """Requests received: ``"oauth"`` (client credentials), ``"jwt"`` (JWT-bearer) or all."""
        return self._count(credential)

    # ------------------------------------------------------------------ HTTP

    def _standard_headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-store"}  # RFC 6749 §5.1

    def _fault_target(self, fault: OAuthFault) -> str | None:
        return fault.credential

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path, form = self._read_form(handler)
        grant = form.get("grant_type")
        credential = {CLIENT_CREDENTIALS_GRANT: "oauth", JWT_BEARER_GRANT: "jwt"}.get(
            grant or "", "unknown"
        )
        record = OAuthRequest(credential, path, form, dict(handler.headers.items()), time.time())
        fault = self._receive(credential, record)
        if fault is not None:
            self._apply_fault(handler, fault)
            return
        if path != self.path:
            self._reply(handler, 404, {"error": "not_found", "error_description": "no such path"})
            return
        content_type = handler.headers.get("Content-Type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            problem: Problem | None = (400, "invalid_request", "form body required")
        elif credential == "oauth":
            problem = self._client_credentials(record)
        elif credential == "jwt":
            problem = self._jwt_bearer(record)
        else:
            problem = (400, "unsupported_grant_type", "grant_type not supported")
        if problem is not None:
            status, error, description = problem
            record.error = error
            headers = {"WWW-Authenticate": 'Basic realm="token"'} if status == 401 else {}
            self._reply(
                handler, status, {"error": error, "error_description": description}, headers
            )
            return
        self._reply(handler, 200, self._token_response(record))

    def _apply_fault(self, handler: BaseHTTPRequestHandler, fault: OAuthFault) -> None:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            self._drop(handler)
            return
        self._reply(handler, fault.status, fault.payload(), self._fault_headers(fault))

    def _token_response(self, record: OAuthRequest) -> dict[str, Any]:
        token = "at-" + secrets.token_urlsafe(32)
        with self._lock:
            self.issued.append(token)
        body: dict[str, Any] = {"access_token": token, "token_type": self.token_type}
        if self.include_expires_in:
            body["expires_in"] = int(self.token_lifetime)
        scope = record.assertion_claims.get("scope") or record.form.get("scope")
        if scope:
            body["scope"] = scope
        return body

    # ------------------------------------------------------------------ protocol

    def _client(self, client_id: str | None) -> OAuthClient | None:
        with self._lock:
            return self._clients.get(client_id or "")

    def _authenticate(self, record: OAuthRequest) -> Problem | None:
        """Find and check the one client authentication method of a request."""
        form = record.form
        authorization = next(
            (v for k, v in record.headers.items() if k.lower() == "authorization"), None
        )
        methods = []
        if authorization is not None:
            methods.append("client_secret_basic")
        if "client_secret" in form:
            methods.append("client_secret_post")
        if "client_assertion" in form or "client_assertion_type" in form:
            methods.append("private_key_jwt")
        if len(methods) > 1:
            # RFC 6749 §2.3: a client MUST NOT use more than one method per request.
            return 400, "invalid_request", "more than one client authentication method"
        if not methods:
            return 401, "invalid_client", "client authentication required"
        method = record.auth_method = methods[0]
        if method == "client_secret_basic":
            assert authorization is not None
            client_id, secret = _decode_basic(authorization)
            if client_id is None:
                return 401, "invalid_client", "malformed Basic authorization"
            if "client_id" in form and form["client_id"] != client_id:
                return 401, "invalid_client", "client_id does not match"
            return self._check_secret(record, client_id, secret or "", method)
        if method == "client_secret_post":
            return self._check_secret(
                record, form.get("client_id", ""), form["client_secret"], method
            )
        return self._check_client_assertion(record)

    def _check_secret(
        self, record: OAuthRequest, client_id: str, secret: str, method: str
    ) -> Problem | None:
        client = self._client(client_id)
        if client is None or client.client_secret is None:
            return 401, "invalid_client", "unknown client or no secret"
        if not secrets.compare_digest(secret.encode(), client.client_secret.encode()):
            return 401, "invalid_client", "client secret is wrong"
        if method not in client.auth_methods:
            return 401, "invalid_client", f"{method} is not allowed for this client"
        record.client_id = client.client_id
        return None

    def _check_client_assertion(self, record: OAuthRequest) -> Problem | None:
        form = record.form
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            return 400, "invalid_request", "client_assertion_type is wrong"
        assertion = form.get("client_assertion")
        if not assertion:
            return 400, "invalid_request", "client_assertion missing"
        unverified = unverified_claims(assertion)
        client = self._client(str(unverified.get("sub", "")))
        if client is None:
            return 401, "invalid_client", "unknown client (sub of client_assertion)"
        if "client_id" in form and form["client_id"] != client.client_id:
            return 401, "invalid_client", "client_id does not match the assertion"
        if "private_key_jwt" not in client.auth_methods:
            return 401, "invalid_client", "private_key_jwt is not allowed for this client"
        problem, _, claims = self._verify(client, assertion, "invalid_client", 401)
        if problem is not None:
            return problem
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            return 401, "invalid_client", "iss and sub must be the client id"
        if not claims.get("jti"):
            return 401, "invalid_client", "jti missing"
        record.client_id = client.client_id
        record.client_assertion_claims = claims
        return None

    def _verify(
        self, client: OAuthClient, assertion: str, error: str, status: int
    ) -> tuple[Problem | None, dict[str, Any], dict[str, Any]]:
        """Signature, ``kid``, ``aud``, ``exp``, ``iat`` and ``jti`` replay of an assertion."""
        if client.verify_key is None:
            return (status, error, "no key registered for this client"), {}, {}
        header = unverified_header(assertion)
        if not header:
            return (status, error, "assertion is not a JWT"), {}, {}
        kid = header.get("kid")
        if client.require_kid and kid is None:
            return (status, error, "kid missing from the JWT header"), header, {}
        if kid is not None and client.key_id is not None and kid != client.key_id:
            return (status, error, "kid does not name a registered key"), header, {}
        try:
            algorithms = _algorithms(client.verify_key)
            token = jwt.decode(assertion, client.verify_key, algorithms=algorithms)
        except (JoseError, ValueError, TypeError):
            return (status, error, "signature invalid"), header, {}
        claims = dict(token.claims)
        now = self.clock()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.token_url not in audiences:
            return (status, error, "aud is not the token endpoint"), header, claims
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return (status, error, "exp missing"), header, claims
        if exp <= now - self.leeway:
            return (status, error, "assertion expired"), header, claims
        if exp > now + self.max_assertion_lifetime + self.leeway:
            return (status, error, "exp too far ahead"), header, claims
        iat = claims.get("iat")
        if iat is not None and (not isinstance(iat, int | float) or iat > now + self.leeway):
            return (status, error, "iat in the future"), header, claims
        jti = claims.get("jti")
        if jti is not None:
            key = f"{client.client_id}\x00{jti}"
            with self._lock:
                self._seen_jti = {k: v for k, v in self._seen_jti.items() if v > now - self.leeway}
                if key in self._seen_jti:
                    return (status, error, "jti was used before (replay)"), header, claims
                self._seen_jti[key] = float(exp)
        return None, header, claims

    def _scopes(self, client: OAuthClient, requested: str | None) -> Problem | None:
        wanted = (requested or "").split()
        if not set(wanted) <= set(client.scopes):
            return 400, "invalid_scope", "scope must be a space-separated subset"
        return None

    def _client_credentials(self, record: OAuthRequest) -> Problem | None:
        problem = self._authenticate(record)
        if problem is not None:
            return problem
        client = self._client(record.client_id)
        assert client is not None
        if "oauth" not in client.grants:
            return 400, "unauthorized_client", "client_credentials not allowed"
        if "," in record.form.get("scope", ""):
            return 400, "invalid_scope", "scopes are space-separated"
        return self._scopes(client, record.form.get("scope"))

    def _jwt_bearer(self, record: OAuthRequest) -> Problem | None:
        form = record.form
        if any(k in form for k in ("client_secret", "client_assertion")) or any(
            k.lower() == "authorization" for k in record.headers
        ):
            # Client authentication is optional with this grant (RFC 7523 §3.1), checked if sent.
            problem = self._authenticate(record)
            if problem is not None:
                return problem
        assertion = form.get("assertion")
        if not assertion:
            return 400, "invalid_request", "assertion missing"
        unverified = unverified_claims(assertion)
        with self._lock:
            client = next(
                (c for c in self._clients.values() if c.issuer == unverified.get("iss")), None
            )
        if client is None:
            return 400, "invalid_grant", "unknown issuer"
        if "jwt" not in client.grants:
            return 400, "unauthorized_client", "jwt-bearer grant not allowed"
        problem, header, claims = self._verify(client, assertion, "invalid_grant", 400)
        record.assertion_header = header
        if problem is not None:
            return problem
        if client.subject is not None and claims.get("sub") != client.subject:
            return 400, "invalid_grant", "sub is not the registered subject"
        record.assertion_claims = claims
        record.client_id = record.client_id or client.client_id
        claim_scope = claims.get("scope")
        if claim_scope is not None and "scope" in form:
            return 400, "invalid_request", "scope given both as claim and parameter"
        requested = claim_scope if isinstance(claim_scope, str) else form.get("scope")
        return self._scopes(client, requested)


def _decode_basic(value: str) -> tuple[str | None, str | None]:
    """RFC 6749 §2.3.1: base64 of ``id:secret``, each form-urlencoded first."""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None, None
    return unquote_plus(client_id), unquote_plus(secret)


def _local_oauth() -> Iterator[LocalOAuthServer]:
    """A running LocalOAuthServer, and a clean process-wide token cache, for one test."""
    _slots.clear()
    with LocalOAuthServer() as server:
        yield server
    _slots.clear()


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional for users of LocalOAuthServer
    local_oauth: Any = _local_oauth
else:
    local_oauth = pytest.fixture(name="local_oauth")(_local_oauth)
