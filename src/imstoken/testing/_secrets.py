"""Key material for the test servers, and the process-wide registry of secrets a leak scan checks.

:func:`register_secret` notes a value that must never show in logs, errors or reprs;
:func:`registered_secrets` hands them to a test suite's leak scan. :func:`generate_private_key`
makes a key and registers it; :func:`new_private_pem` only makes one.
"""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

_lock = threading.Lock()
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Note a value that must never show in logs, errors or reprs (for a test suite's leak scan).

    A PEM private key also registers each of its body lines: any one of them is a leak. The
    local IMS registers what it knows: client secrets, private keys and the passphrases of keys
    it generates, the tokens it issues and the assertions it receives.
    """
    if not value:
        return
    found = {value}
    if "-----BEGIN" in value:
        for raw_line in value.replace("\\n", "\n").splitlines():
            line = raw_line.strip()
            if line and "-----" not in line and ":" not in line:
                found.add(line)
    with _lock:
        _registered.update(found)


def registered_secrets() -> frozenset[str]:
    """Every value passed to :func:`register_secret` in this process so far."""
    with _lock:
        return frozenset(_registered)


def new_private_pem(kind: str = "RSA", passphrase: str | None = None) -> str:
    """A new PEM private key: ``"RSA"`` (2048-bit, PKCS#8) or ``"EC"`` (P-256)."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if kind.upper() == "EC":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def generate_private_key(kind: str = "RSA", *, passphrase: str | None = None) -> str:
    """A new PEM private key: ``"RSA"`` (2048-bit, PKCS#8) or ``"EC"`` (P-256).

    The key and its passphrase are registered with :func:`register_secret`.
    """
    pem = new_private_pem(kind, passphrase)
    register_secret(pem)
    register_secret(passphrase)
    return pem


def public_pem(private_pem: str, passphrase: str | None = None) -> str:
    """The PEM (SubjectPublicKeyInfo) public half of a PEM private key."""
    key = serialization.load_pem_private_key(
        private_pem.encode(), password=passphrase.encode() if passphrase else None
    )
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
