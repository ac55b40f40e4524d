"""The sans-I/O backend protocol: settings and "now" in, a request out; a response in, a Token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .._token import CredentialKind, Token


@dataclass(frozen=True, slots=True, repr=False)
class TokenRequest:
    """One HTTP request to a token endpoint. Its repr never shows form values or headers."""

    url: str
    form: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"

    def __repr__(self) -> str:
        return f"TokenRequest({self.method} {self.url}, fields={sorted(self.form)})"


class Backend(Protocol):
    """A credential backend: settings and "now" in, a request out; a response in, a Token out."""

    @property
    def credential(self) -> CredentialKind:
        """``"jwt"`` or ``"oauth"``: which kind of credential this backend presents."""
        ...

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        ...

    def build_request(self, now: float) -> TokenRequest:
        """The request that asks for a new token, as of ``now`` (Unix seconds)."""
        ...

    def parse_response(
        self, status: int, headers: Mapping[str, str], body: bytes, sent_at: float
    ) -> Token:
        """Turn a response into a Token or raise ``TokenRequestError``."""
        ...

    def sealing_material(self) -> bytes:
        """The secret that seals shared-cache records: the active client secret, or the
        private key's DER where there is no secret. Asked per use, so a rotation is followed."""
        ...


def secret_material(secret: str) -> bytes:
    """Sealing material for a client secret (tagged, so it never equals a key's DER)."""
    return b"client-secret\x00" + secret.encode()


def private_key_material(private_key: object) -> bytes:
    """Sealing material for a private key (a ``cryptography`` key object): its PKCS#8 DER."""
    from cryptography.hazmat.primitives import serialization

    der: bytes = private_key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return b"private-key\x00" + der
