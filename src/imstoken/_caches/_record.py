"""A token as the file and Redis caches store it: JSON with the cache key inside, then sealed.

The JSON is the plaintext that :mod:`imstoken._caches._seal` encrypts; a record is only trusted
when it opens, names its own cache key, and its instants are plausible (the same bounds as a
token-endpoint answer: at most 400 days of lifetime, not obtained in the future).
"""

from __future__ import annotations

import json
import math

from .._backends import MAX_LIFETIME_SECONDS
from .._token import Token

RECORD_VERSION = 2
#: How far another host's clock may run ahead of ours before its record is "from the future".
MAX_CLOCK_AHEAD = 300.0
_MAX_RECORD_BYTES = 64 * 1024  # an Adobe token is ~1-2 KB; anything far bigger is not ours


def encode_record(key: str, token: Token, obtained_at: float) -> bytes:
    """A token as stored (before sealing): JSON with the cache key inside."""
    record = {
        "version": RECORD_VERSION,
        "key": key,
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_at": token.expires_at,
        "credential": token.credential,
        "scope": token.scope,
        "obtained_at": obtained_at,
    }
    return json.dumps(record, separators=(",", ":")).encode()


def decode_record(key: str, data: bytes | str, now: float) -> tuple[Token, float] | None:
    """The token in ``data`` if it is a well-formed, plausible record for ``key`` as of ``now``."""
    if not data or len(data) > _MAX_RECORD_BYTES:
        return None
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return None
    if record.get("key") != key:
        return None
    access_token = record.get("access_token")
    token_type = record.get("token_type")
    credential = record.get("credential")
    scope = record.get("scope")
    expires_at = _finite(record.get("expires_at"))
    obtained_at = _finite(record.get("obtained_at"))
    if (
        not isinstance(access_token, str)
        or not _is_vschar(access_token)
        or not isinstance(token_type, str)
        or credential not in ("jwt", "oauth")
        or not (scope is None or isinstance(scope, str))
        or expires_at is None
        or obtained_at is None
        or not plausible(obtained_at, expires_at, now)
    ):
        return None
    token = Token(
        access_token=access_token,
        token_type=token_type,
        expires_at=expires_at,
        credential=credential,
        scope=scope,
    )
    return token, obtained_at


def plausible(obtained_at: float, expires_at: float, now: float) -> bool:
    """Whether a record's instants could come from a real token answer (as of ``now``)."""
    lifetime = expires_at - obtained_at
    return 1.0 <= lifetime <= MAX_LIFETIME_SECONDS and obtained_at <= now + MAX_CLOCK_AHEAD


def _is_vschar(text: str) -> bool:
    # RFC 6749 VSCHAR (%x20-7E); a header value with anything else is not a token of ours.
    return bool(text) and text.isascii() and text.isprintable()


def _finite(value: object) -> float | None:
    # bool is an int subclass; a record saying "expires_at": true is not ours.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
