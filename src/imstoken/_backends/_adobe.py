"""Adobe IMS backends (sans-I/O): OAuth Server-to-Server and the Service Account (JWT) exchange."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from joserfc import jwt

from .._secret import Secret
from .._token import CredentialKind, Token
from ._protocol import TokenRequest, secret_material
from ._response import ResponseRules
from ._signing import SigningKey

FORM_HEADERS: Mapping[str, str] = {"Accept": "application/json"}


class _AdobeBackend:
    """What both Adobe backends do alike: read a response in ``EXPIRES_IN_UNIT`` seconds."""

    __slots__ = ()
    EXPIRES_IN_UNIT: ClassVar[float] = 1.0
    client_secret: Secret
    credential: CredentialKind

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, sent_at: float
    ) -> Token:
        """A Token, or a typed error with the client secret redacted from anything echoed."""
        rules = ResponseRules(self.credential, self.EXPIRES_IN_UNIT, (self.client_secret.reveal(),))
        return rules.parse(status, headers, body, sent_at)

    def sealing_material(self) -> bytes:
        """The client secret: what seals this credential's shared-cache records."""
        return secret_material(self.client_secret.reveal())


@dataclass(frozen=True, slots=True)
class AdobeOAuthBackend(_AdobeBackend):
    """OAuth Server-to-Server: ``client_credentials`` with the secret in the body, comma scopes.

    ``expires_in`` is in seconds on ``/ims/token/v3``.
    """

    token_url: str
    client_id: str
    client_secret: Secret
    scopes: tuple[str, ...]
    credential: CredentialKind = "oauth"

    def build_request(self, now: float) -> TokenRequest:
        """The v3 token request; ``now`` is unused (nothing here depends on time)."""
        return TokenRequest(
            url=self.token_url,
            form={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret.reveal(),
                "scope": ",".join(self.scopes),
            },
            headers=FORM_HEADERS,
        )



def metascope_claim(ims_host: str, metascope: str) -> str:
    """The claim name for one metascope: a full URL is used as is, a name gets ``{host}/s/``."""
    if metascope.startswith(("https://", "http://")):
        return metascope
    return f"{ims_host}/s/{metascope}"


@dataclass(frozen=True, slots=True)
class AdobeJWTBackend(_AdobeBackend):
    """Service Account (JWT): an RS256 assertion exchanged at ``/ims/exchange/jwt``.

    Adobe answers ``expires_in`` in milliseconds here.
    """

    EXPIRES_IN_UNIT: ClassVar[float] = 0.001

    token_url: str
    ims_host: str
    client_id: str
    client_secret: Secret
    org_id: str
    technical_account_id: str
    metascopes: tuple[str, ...]
    signing_key: SigningKey
    jwt_expiry_seconds: int = 300
    algorithm: str = "RS256"
    credential: CredentialKind = "jwt"

    def claims(self, now: float) -> dict[str, object]:
        """The JWT claim set Adobe expects, as of ``now``."""
        claims: dict[str, object] = {
            "exp": int(now) + self.jwt_expiry_seconds,
            "iss": self.org_id,
            "sub": self.technical_account_id,
            "aud": f"{self.ims_host}/c/{self.client_id}",
        }
        for metascope in self.metascopes:
            claims[metascope_claim(self.ims_host, metascope)] = True
        return claims

    def sign(self, now: float) -> str:
        """The signed assertion (a secret: it is a bearer credential for a few minutes)."""
        return jwt.encode(
            {"alg": self.algorithm, "typ": "JWT"},
            self.claims(now),
            self.signing_key.jwk,
            algorithms=[self.algorithm],
        )

    def build_request(self, now: float) -> TokenRequest:
        """The JWT exchange request with a freshly signed assertion."""
        return TokenRequest(
            url=self.token_url,
            form={
                "client_id": self.client_id,
                "client_secret": self.client_secret.reveal(),
                "jwt_token": self.sign(now),
            },
            headers=FORM_HEADERS,
        )

