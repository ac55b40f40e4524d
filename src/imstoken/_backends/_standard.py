"""Any OAuth 2.0 server (sans-I/O): RFC 6749 client credentials and the RFC 7523 JWT-bearer grant.

Client authentication is ``client_secret_basic`` (RFC 6749 §2.3.1), ``client_secret_post`` or
``private_key_jwt`` (RFC 7523 §2.2); the JWT-bearer grant (RFC 7523 §2.1) may also go without
(Google, Salesforce). Like the Adobe backends, nothing here opens a socket or reads a clock.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote_plus

from .._errors import ConfigError, TokenRequestError
from .._secret import Secret
from .._token import CredentialKind, Token
from ._protocol import TokenRequest, private_key_material, secret_material
from ._response import ResponseRules
from ._signing import AssertionSigner

# status, headers, body and the Unix time the request was sent
Response = tuple[int, Mapping[str, str], bytes, float]

CLIENT_CREDENTIALS_GRANT = "client_credentials"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM_HEADERS: Mapping[str, str] = {"Accept": "application/json"}

# A JWS in compact form (or a truncated prefix of one): what a server that echoes our
# assertion back in an error would show. Its header always starts with base64url '{"'.
_JWS_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}")


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value for ``client_secret_basic``.

    RFC 6749 §2.3.1: the id and the secret are each form-urlencoded first, then
    ``id:secret`` is base64-encoded. Skipping the first step breaks secrets with ``:`` or ``%``.
    """
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


@dataclass(frozen=True, slots=True)
class ClientAuthentication:
    """How the client proves who it is at the token endpoint.

    ``method`` is ``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` (signed
    by ``signer``) or ``none`` (only for the JWT-bearer grant, whose assertion is the proof).
    """

    method: str
    client_id: str
    client_secret: Secret | None = None
    signer: AssertionSigner | None = None

    def apply(
        self, form: dict[str, str], headers: dict[str, str], audience: str, now: float
    ) -> None:
        """Add this method's credentials to a request's form and headers."""
        if self.method == "client_secret_basic":
            headers["Authorization"] = basic_authorization(self.client_id, self._secret())
        elif self.method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self._secret()
        elif self.method == "private_key_jwt":
            # client_id is optional here (RFC 7521 §4.2) but Azure AD wants it; it never hurts.
            form["client_id"] = self.client_id
            form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            form["client_assertion"] = self.assertion(audience, now)
        elif self.method != "none":
            raise ConfigError(f"unknown client authentication method {self.method!r}")

    def assertion(self, audience: str, now: float) -> str:
        """The ``private_key_jwt`` client assertion: ``iss`` = ``sub`` = client id."""
        if self.signer is None:
            raise ConfigError("private_key_jwt needs a private key", key="private_key")
        return self.signer.sign(
            issuer=self.client_id, subject=self.client_id, audience=audience, now=now
        )

    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from anything the server echoes back."""
        if self.client_secret is None:
            return ()
        secret = self.client_secret.reveal()
        return (secret, basic_authorization(self.client_id, secret).removeprefix("Basic "))

    def parse(
        self, credential: CredentialKind, default_expires_in: float, response: Response
    ) -> Token:
        """RFC 6749 §5.1/§5.2: ``expires_in`` in seconds and optional; ``token_type`` bearer.
        A signed JWT that the server echoes back in an error is masked."""
        rules = ResponseRules(credential, 1.0, self.secrets(), default_expires_in, True)
        try:
            return rules.parse(*response)
        except TokenRequestError as error:
            raise _scrub(error) from None

    def _secret(self) -> str:
        if self.client_secret is None:
            raise ConfigError(f"{self.method} needs a client secret", key="client_secret")
        return self.client_secret.reveal()


def _scrub(error: TokenRequestError) -> TokenRequestError:
    """Mask anything that looks like a signed JWT in an error a server sent back."""
    for name in ("error", "error_description"):
        value = getattr(error, name)
        if value:
            setattr(error, name, _JWS_PATTERN.sub("***", value))
    error.message = _JWS_PATTERN.sub("***", error.message)
    error.args = (error.message,)
    return error


def _form(
    grant: dict[str, str],
    scopes: tuple[str, ...],
    audience: str | None,
    resource: str | None,
    extra_params: tuple[tuple[str, str], ...],
) -> dict[str, str]:
    form = dict(grant)
    if scopes:
        form["scope"] = " ".join(scopes)
    if audience:
        form["audience"] = audience  # Auth0 and others name the API this way
    if resource:
        form["resource"] = resource  # RFC 8707
    form.update(extra_params)
    return form


class _StandardBackend:
    """What both standard-profile backends do alike: finish a request, read a response."""

    __slots__ = ()
    token_url: str
    client: ClientAuthentication
    default_expires_in: float
    credential: CredentialKind

    def _request(self, form: dict[str, str], now: float) -> TokenRequest:
        headers = dict(FORM_HEADERS)
        self.client.apply(form, headers, self.token_url, now)
        return TokenRequest(url=self.token_url, form=form, headers=headers)

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, sent_at: float
    ) -> Token:
        """RFC 6749 §5.1/§5.2: ``expires_in`` in seconds and optional; ``token_type`` bearer."""
        response = (status, headers, body, sent_at)
        return self.client.parse(self.credential, self.default_expires_in, response)

    def sealing_material(self) -> bytes:
        """The client secret, else the private key's DER: what seals shared-cache records."""
        if self.client.client_secret is not None:
            return secret_material(self.client.client_secret.reveal())
        signer = self.client.signer or getattr(self, "signer", None)
        if signer is None:  # unreachable: a credential proves itself with one or the other
            raise ConfigError("a credential needs a client secret or a private key")
        return private_key_material(signer.signing_key.jwk.private_key)


@dataclass(frozen=True, slots=True)
class StandardClientCredentialsBackend(_StandardBackend):
    """RFC 6749 §4.4 ``client_credentials`` against any OAuth 2.0 server; scopes space-separated."""

    token_url: str
    client: ClientAuthentication
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    resource: str | None = None
    extra_params: tuple[tuple[str, str], ...] = ()
    default_expires_in: float = 3600.0
    credential: CredentialKind = "oauth"

    def build_request(self, now: float) -> TokenRequest:
        """The token request; ``now`` dates the client assertion of ``private_key_jwt``."""
        grant = {"grant_type": CLIENT_CREDENTIALS_GRANT}
        form = _form(grant, self.scopes, self.audience, self.resource, self.extra_params)
        return self._request(form, now)


@dataclass(frozen=True, slots=True)
class StandardJWTBearerBackend(_StandardBackend):
    """RFC 7523 §2.1: a signed assertion is the grant (``grant_type`` ``…:jwt-bearer``).

    Scopes go in a ``scope`` form parameter unless the signer's claims carry a ``scope`` claim
    (Google's way; ``scope_claim = true`` does that).
    """

    token_url: str
    client: ClientAuthentication
    signer: AssertionSigner
    issuer: str
    audience: str
    subject: str | None = None
    scopes: tuple[str, ...] = ()
    resource: str | None = None
    extra_params: tuple[tuple[str, str], ...] = ()
    default_expires_in: float = 3600.0
    credential: CredentialKind = "jwt"

    def sign(self, now: float) -> str:
        """The signed grant assertion as of ``now`` (a secret until it expires)."""
        return self.signer.sign(
            issuer=self.issuer, subject=self.subject, audience=self.audience, now=now
        )

    def build_request(self, now: float) -> TokenRequest:
        """The grant request with a freshly signed assertion (and client auth, if any)."""
        in_claims = any(name == "scope" for name, _ in self.signer.claims)
        grant = {"grant_type": JWT_BEARER_GRANT, "assertion": self.sign(now)}
        scopes = () if in_claims else self.scopes
        form = _form(grant, scopes, None, self.resource, self.extra_params)
        return self._request(form, now)
