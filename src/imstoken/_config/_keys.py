"""Private keys from ``private_key`` or ``private_key_path``: PEM, PKCS#1/#8, RSA or EC."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from joserfc.jwk import ECKey, RSAKey

from .._backends import SigningKey
from .._errors import ConfigError
from ._schema import ENV_VARS
from ._values import as_str, config_error, expand_user, read_bytes

_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


# Loading an RSA key costs tens of milliseconds (cryptography checks it); an app that builds a
# provider per request must not pay that per request. Keyed by a digest, so the cache holds no
# PEM text or passphrase of its own; only successful loads are kept.
_loaded: LRUCache[bytes, SigningKey] = LRUCache(maxsize=64)
_loaded_lock = threading.Lock()


def load_signing_key(
    pem: bytes,
    passphrase: str | None,
    *,
    key: str,
    env_var: str | None,
    passphrase_key: str = "private_key_passphrase",
    passphrase_env: str | None = "IMS_PRIVATE_KEY_PASSPHRASE",
    where: str | None = None,
) -> SigningKey:
    """Load a PEM private key or raise a ``ConfigError`` that names the key, never the value.

    ``where`` says where the PEM came from (a resolved file path) in errors; default: ``key``.
    """
    digest = hashlib.sha256(pem + b"\x00" + (passphrase or "").encode()).digest()
    with _loaded_lock:
        cached = _loaded.get(digest)
    if cached is not None:
        return cached
    loaded = _load(pem, passphrase, key, env_var, passphrase_key, passphrase_env, where or key)
    with _loaded_lock:
        _loaded[digest] = loaded
    return loaded


def _load(  # noqa: PLR0917 - private, mirrors load_signing_key
    pem: bytes,
    passphrase: str | None,
    key: str,
    env_var: str | None,
    passphrase_key: str,
    passphrase_env: str | None,
    where: str,
) -> SigningKey:
    if b"-----BEGIN" not in pem:
        raise ConfigError(
            "is not a PEM private key (no '-----BEGIN' line)", key=key, env_var=env_var
        )
    if b"PUBLIC KEY-----" in pem and b"PRIVATE KEY-----" not in pem:
        raise ConfigError("is a public key; a private key is needed", key=key, env_var=env_var)
    password = passphrase.encode() if passphrase else None
    try:
        private = load_pem_private_key(pem, password=password)
    except TypeError as exc:
        # cryptography says TypeError for "encrypted but no password" and the reverse.
        if password is None:
            raise ConfigError(
                f"the private key in {where} is encrypted: set {passphrase_key} to its passphrase",
                key=passphrase_key,
                env_var=passphrase_env,
            ) from None
        raise ConfigError(
            "was given but the private key is not encrypted",
            key=passphrase_key,
            env_var=passphrase_env,
        ) from exc
    except ValueError:
        if b"ENCRYPTED" in pem and password is not None:
            raise ConfigError(
                "does not decrypt the private key (wrong passphrase?)",
                key=passphrase_key,
                env_var=passphrase_env,
            ) from None
        raise ConfigError(
            "could not be loaded as a private key (malformed PEM or unsupported key type)",
            key=key,
            env_var=env_var,
        ) from None
    except Exception:  # noqa: BLE001 - cryptography raises assorted errors for odd input
        raise ConfigError(
            "could not be loaded as a private key", key=key, env_var=env_var
        ) from None
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < 2048:
            raise ConfigError("is an RSA key shorter than 2048 bits", key=key, env_var=env_var)
        return SigningKey(RSAKey.import_key(_plain_pem(private)), "RS256", "RSA")
    if isinstance(private, ec.EllipticCurvePrivateKey):
        algorithm = _EC_ALGORITHMS.get(private.curve.name)
        if algorithm is None:
            raise ConfigError(
                f"uses the unsupported EC curve {private.curve.name}", key=key, env_var=env_var
            )
        return SigningKey(ECKey.import_key(_plain_pem(private)), algorithm, "EC")
    raise ConfigError("must be an RSA or EC private key", key=key, env_var=env_var)


def _plain_pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    # joserfc < 1.6 imports PEM bytes but not cryptography key objects; PEM works on all.
    return private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def configured_key(values: Mapping[str, Any], base_dir: Path | None) -> SigningKey | None:
    """The key that ``private_key`` (PEM text) or ``private_key_path`` gives, if either does.

    A relative ``private_key_path`` is relative to ``base_dir`` (the config file's folder).
    """
    pem_text = values.get("private_key")
    path_value = values.get("private_key_path")
    passphrase_value = values.get("private_key_passphrase")
    passphrase: str | None = None
    if passphrase_value is not None:
        passphrase = (
            as_str("private_key_passphrase", passphrase_value, allow_empty=True, multiline=True)
            or None
        )
    if pem_text is not None and path_value is not None:
        raise config_error("private_key", "give private_key or private_key_path, not both")
    if pem_text is not None:
        text = as_str("private_key", pem_text, multiline=True)
        # Env variables and JSON often carry the PEM with literal "\n".
        if "\\n" in text and "\n" not in text:
            text = text.replace("\\n", "\n")
        return load_signing_key(
            text.encode(), passphrase, key="private_key", env_var=ENV_VARS.get("private_key")
        )
    if path_value is not None:
        if not isinstance(path_value, str | os.PathLike):
            raise config_error("private_key_path", "must be a file path string")
        path = expand_user(Path(os.fspath(path_value)), "private_key_path")
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        # The path as it resolved (after ~ and relative to the config file) is what to check.
        resolved = str(path.absolute())
        data = read_bytes(
            path,
            lambda reason: config_error("private_key_path", f"{reason}: {resolved}"),
            missing="names a file that does not exist",
            folder="names a folder, not a key file",
        )
        return load_signing_key(
            data,
            passphrase,
            key="private_key_path",
            env_var=ENV_VARS.get("private_key_path"),
            where=resolved,
        )
    return None
