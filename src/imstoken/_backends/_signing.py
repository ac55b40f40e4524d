"""Signing keys and JWS assertions (RS*, PS*, ES*), and reading a JWT's parts without verifying."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey


@dataclass(frozen=True, slots=True, repr=False)
class SigningKey:
    """A loaded private key, ready for JOSE signing. Its repr shows only the type."""

    jwk: RSAKey | ECKey
    default_algorithm: str
    kind: str  # "RSA" or "EC"

    def __repr__(self) -> str:
        return f"SigningKey(kind={self.kind!r}, default_algorithm={self.default_algorithm!r})"

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK dict (for servers that verify our assertions)."""
        return dict(self.jwk.as_dict(private=False))


@dataclass(frozen=True, slots=True)
class AssertionSigner:
    """How RFC 7523 assertions are signed: the key, its algorithm, ``kid``, lifetime, claims."""

    signing_key: SigningKey
    algorithm: str = "RS256"
    key_id: str | None = None
    lifetime: int = 300
    claims: tuple[tuple[str, Any], ...] = ()

    def sign(self, *, issuer: str, subject: str | None, audience: str, now: float) -> str:
        """A signed assertion: ``iss``, ``sub``, ``aud``, ``iat``, ``exp``, a fresh ``jti``
        and the extra claims. It is a bearer credential until it expires: never log it."""
        header: dict[str, Any] = {"alg": self.algorithm, "typ": "JWT"}
        if self.key_id:
            header["kid"] = self.key_id
        issued_at = int(now)
        # The claims authlib's rfc7523 puts in (iss, aud, sub if any, iat, exp), then the extra
        # ones. Signed with joserfc directly, as authlib >= 1.7 does: authlib 1.6's rfc7523 signs
        # with authlib.jose, which takes no joserfc key (and authlib >= 1.7 needs joserfc >= 1.6,
        # hence cryptography >= 45, which apps pinned to cryptography < 39 cannot install).
        payload: dict[str, Any] = {"iss": issuer, "aud": audience}
        if subject:
            payload["sub"] = subject
        payload["iat"] = issued_at
        payload["exp"] = issued_at + self.lifetime
        payload.update(self.claims)
        # A unique jti lets the server reject a replayed assertion (RFC 7523 §3, item 7).
        payload["jti"] = secrets.token_urlsafe(24)
        return jwt.encode(header, payload, self.signing_key.jwk, algorithms=[self.algorithm])


def _segment(token: str, index: int) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(parts[index] + "=" * (-len(parts[index]) % 4)))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT-shaped token (IMS access tokens are JWTs), decoded WITHOUT verifying
    it: for showing identity, never for trusting it. ``{}`` when it is not such a token."""
    return _segment(token, 1)


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a JWT-shaped token, decoded WITHOUT verifying it (to pick the key
    that then verifies it). ``{}`` when it is not such a token."""
    return _segment(token, 0)
