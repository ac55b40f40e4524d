"""``LocalOAuthServer``: a real loopback OAuth 2.0 token endpoint, with ``OAuthFault`` and records.

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

import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from .._backends import unverified_claims, unverified_header
from ._oauth_client import (
    AUTH_METHODS,
    CLIENT_ASSERTION_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    JWT_BEARER_GRANT,
    OAuthClient,
    decode_basic,
    signature_algorithms,
    verify_key_of,
)
from ._secrets import new_private_pem
from ._server import FaultBase, LoopbackServer

Problem = tuple[int, str, str]  # status, OAuth error code, description


@dataclass
class OAuthFault(FaultBase):
    """One injected failure: answer ``status`` with ``body`` after ``delay`` seconds."""

    # status, body, delay, retry_after and headers come from FaultBase, in that order
    credential: str | None = None  # "oauth" (client credentials), "jwt" (JWT-bearer) or both
    drop: bool = False  # close the connection without an answer

    def target(self) -> str | None:
        """``credential``: the request kind this fault may answer."""
        return self.credential


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


class LocalOAuthServer(LoopbackServer[OAuthRequest, OAuthFault, OAuthClient]):
    """A threaded loopback OAuth 2.0 token endpoint. Use as a context manager."""

    _thread_name = "local-oauth"
    _get_answer = {"error": "invalid_request", "error_description": "POST"}
    _fixed_headers = {"Cache-Control": "no-store"}  # RFC 6749 §5.1

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
        super().__init__(host=host, port=port, token_lifetime=token_lifetime, fault_type=OAuthFault)
        self.token_type = token_type
        self.include_expires_in = include_expires_in
        self.path = path
        # The checks of every assertion; replays are caught by "client id NUL jti" -> exp.
        self._seen_jti: dict[str, float] = {}
        self.max_assertion_lifetime = max_assertion_lifetime
        self.leeway = leeway
        self.clock = clock

    # ------------------------------------------------------------------ inspection

    @property
    def token_url(self) -> str:
        """The token endpoint (also the ``aud`` that assertions must carry)."""
        return self.url + self.path

    def count(self, credential: str | None = None) -> int:
        """Requests received: ``"oauth"`` (client credentials), ``"jwt"`` (JWT-bearer) or all."""
        return self._count(credential)

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
            verify_key=verify_key_of(public_key, private_key),
            key_id=key_id,
            require_kid=require_kid,
            auth_methods=tuple(auth_methods),
            grants=tuple(grants),
            scopes=tuple(scopes),
            issuer=issuer or "",
            subject=subject,
        )
        return self._register(client.client_id, client)

    def remove_client(self, client_id: str) -> None:
        """Forget a client: later requests get ``invalid_client``."""
        self._unregister(client_id)

    # ------------------------------------------------------------------ HTTP

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
        self._note_issued(token)
        body: dict[str, Any] = {"access_token": token, "token_type": self.token_type}
        if self.include_expires_in:
            body["expires_in"] = int(self.token_lifetime)
        scope = record.assertion_claims.get("scope") or record.form.get("scope")
        if scope:
            body["scope"] = scope
        return body

    # ------------------------------------------------------------------ protocol

    def _client(self, client_id: str | None) -> OAuthClient | None:
        return self._registered(client_id or "")

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
            client_id, secret = decode_basic(authorization)
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
            algorithms = signature_algorithms(client.verify_key)
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
        issuer = unverified.get("iss")
        client = next((c for c in self._all_registered() if c.issuer == issuer), None)
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
