"""``OAuthClient``: a client of ``LocalOAuthServer``, and how the server checks who it is.

That is: the public key its JWTs are verified with (imported from PEM or JWK) and the algorithms
it may sign with, the decoding of its ``Authorization: Basic`` header, the grant and
assertion-type URNs and the client authentication methods.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey, import_key

CLIENT_CREDENTIALS_GRANT = "client_credentials"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

VerifyKey = RSAKey | ECKey


def verify_key_of(public_key: str | Mapping[str, Any] | None, private_key: str | None) -> VerifyKey:
    """A joserfc public key from a PEM (public or private) or a JWK mapping."""
    if isinstance(public_key, Mapping):
        key = import_key(dict(public_key))
    else:
        pem = (public_key or private_key or "").encode()
        loaded: Any
        if b"PRIVATE KEY" in pem:
            # Only the public half is used; skipping the slow RSA self-check is safe here.
            try:
                private = serialization.load_pem_private_key(
                    pem, password=None, unsafe_skip_rsa_key_validation=True
                )
            except TypeError:  # cryptography < 39 has no such option (and always checks)
                private = serialization.load_pem_private_key(pem, password=None)
            loaded = private.public_key()
        else:
            loaded = serialization.load_pem_public_key(pem)
        if not isinstance(loaded, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValueError("only RSA and EC public keys are supported")
        # joserfc < 1.6 imports PEM bytes but not cryptography key objects; PEM works on all.
        public_pem = loaded.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_type = RSAKey if isinstance(loaded, rsa.RSAPublicKey) else ECKey
        key = key_type.import_key(public_pem)
    if not isinstance(key, RSAKey | ECKey):
        raise ValueError("only RSA and EC public keys are supported")
    return key


def signature_algorithms(key: VerifyKey) -> list[str]:
    """The JWS algorithms an assertion signed with ``key`` may use."""
    if isinstance(key, RSAKey):
        return list(RSA_ALGORITHMS)
    return [EC_ALGORITHMS.get(str(key.curve_name), "ES256")]


def decode_basic(value: str) -> tuple[str | None, str | None]:
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
