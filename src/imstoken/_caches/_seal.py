"""Sealing shared records: AES-GCM under a key derived from the credential's secret material.

A record in the file or Redis cache is ``ims1.`` + base64url(nonce ‖ ciphertext ‖ tag). The AES
key is HKDF-SHA256 of the credential's secret material (the client secret, or the private key's
DER where there is none), with the format version as salt and the cache key in ``info``; the
cache key is also the associated data. Without the secret, a reader learns no token and a writer
cannot plant one; a record copied to another cache key does not open there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEAL_PREFIX = b"ims1."
_SALT = b"imstoken sealed record v1"
_CONTEXT = b"imstoken/record/v1\x00"
_NONCE_BYTES = 12
# Keys derived for materials seen lately (a rotation adds one); a provider per call must not
# pay HKDF per call, and a long-lived process must not keep every material it ever saw.
_KEEP = 8


class Sealer:
    """Seals and opens records for any cache key, under the material ``material()`` returns.

    ``material`` is asked on each use, so a backend that rotates its secret is followed; the
    derived AES key is cached per (material digest, cache key).
    """

    __slots__ = ("_keys", "_lock", "_material")

    def __init__(self, material: Callable[[], bytes]) -> None:
        self._material = material
        self._keys: dict[tuple[bytes, str], AESGCM] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Sealer(AES-256-GCM, HKDF-SHA256)"

    def seal(self, key: str, plaintext: bytes) -> bytes:
        """The sealed record of ``plaintext`` for cache key ``key``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead(key).encrypt(nonce, plaintext, _CONTEXT + key.encode())
        return SEAL_PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=")

    def open(self, key: str, record: bytes) -> bytes | None:
        """The plaintext of a record sealed for ``key`` under the current material, or None."""
        if not record.startswith(SEAL_PREFIX):
            return None
        body = record[len(SEAL_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < _NONCE_BYTES + 16:
            return None
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        try:
            return self._aead(key).decrypt(nonce, sealed, _CONTEXT + key.encode())
        except InvalidTag:
            return None

    def _aead(self, key: str) -> AESGCM:
        material = self._material()
        slot = (hashlib.sha256(material).digest(), key)
        aead = self._keys.get(slot)
        if aead is None:
            derived = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_CONTEXT + key.encode()
            ).derive(material)
            aead = AESGCM(derived)
            with self._lock:
                if len(self._keys) >= _KEEP:
                    self._keys.pop(next(iter(self._keys)))
                self._keys[slot] = aead
        return aead
