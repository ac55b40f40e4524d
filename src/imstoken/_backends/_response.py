"""Sans-I/O pieces shared by every backend: the token request value and response parsing.

Nothing here opens a socket or reads a clock: callers pass "now" and the response in.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from .._errors import InvalidTokenResponse, TokenRequestError, TokenRequestRefused
from .._secret import redact_secrets
from .._token import CredentialKind, Token

# A token that claims to live longer than this is treated as nonsense, not cached for years.
MAX_LIFETIME_SECONDS = 400 * 24 * 3600.0
# Bodies larger than this are not token responses; never try to parse or echo them.
MAX_BODY_BYTES = 1 << 20
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_VSCHAR = re.compile(r"[\x20-\x7e]+")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace any secret value that a hostile or chatty server echoed back, raw or encoded
    (percent- or form-encoded, JSON-escaped, inside base64)."""
    return redact_secrets(text, tuple(secrets))


def is_vschar_token(value: str) -> bool:
    """RFC 6749 §A.12: ``access-token = 1*VSCHAR`` (%x20-7E), and usable in an
    ``Authorization: Bearer`` header: no surrounding spaces, not empty."""
    return bool(value) and value.strip(" ") == value and _VSCHAR.fullmatch(value) is not None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds to wait (RFC 9110: delay-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # str.isdigit() also takes "²", which int() refuses; and int() refuses thousands of
        # digits. More than ten digits is more than the 24 h cap anyway.
        seconds = int(value) if len(value) <= 10 else 24 * 3600
        return float(min(seconds, 24 * 3600))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min(when.timestamp() - now, 24 * 3600.0))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return candidate
    return value


def _short_text(value: object, limit: int = 300, secrets: tuple[str, ...] = ()) -> str | None:
    """A server's value for an error: secrets masked first (never cut in two), then cut."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    if secrets:
        text = redact(text, secrets)
    text = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return text[:limit]


@dataclass(frozen=True, slots=True, repr=False)
class ResponseRules:
    """How one backend reads token responses: see :func:`parse_token_response`."""

    credential: CredentialKind
    expires_in_unit: float = 1.0
    secrets: tuple[str, ...] = ()
    default_expires_in: float | None = None
    require_bearer: bool = False

    def __repr__(self) -> str:
        return f"ResponseRules({self.credential!r}, expires_in_unit={self.expires_in_unit})"

    def parse(self, status: int, headers: Mapping[str, str], body: bytes, sent_at: float) -> Token:
        """A Token from a response, or a typed ``TokenRequestError``."""
        return read_token_response(self, status, headers, body, sent_at)


def parse_token_response(
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    sent_at: float,
    credential: CredentialKind,
    expires_in_unit: float,
    secrets: Iterable[str] = (),
    default_expires_in: float | None = None,
    require_bearer: bool = False,
) -> Token:
    """Parse an OAuth 2.0 token response (RFC 6749 §5.1, §5.2) into a Token.

    ``expires_in_unit`` converts ``expires_in`` to seconds (1 for seconds, 0.001 for Adobe's
    JWT exchange, which answers in milliseconds). Anything that is not a valid token response
    raises ``TokenRequestError``; nothing is returned that could be cached by mistake.
    """
    rules = ResponseRules(
        credential, expires_in_unit, tuple(secrets), default_expires_in, require_bearer
    )
    return read_token_response(rules, status, headers, body, sent_at)


def read_token_response(
    rules: ResponseRules, status: int, headers: Mapping[str, str], body: bytes, sent_at: float
) -> Token:
    """:func:`parse_token_response` with the backend's rules as one value."""
    credential, expires_in_unit, secrets = rules.credential, rules.expires_in_unit, rules.secrets
    default_expires_in, require_bearer = rules.default_expires_in, rules.require_bearer
    debug_id = _header(headers, "x-debug-id")

    def fail(
        message: str,
        *,
        error: object = None,
        description: object = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> TokenRequestError:
        kind = InvalidTokenResponse if 200 <= status < 300 else TokenRequestRefused
        return kind(
            message,
            status_code=status,
            error=_short_text(error, 80, secrets),
            error_description=_short_text(description, 300, secrets),
            debug_id=_short_text(debug_id, 120, secrets),
            retryable=retryable,
            retry_after=retry_after,
        )

    if len(body) > MAX_BODY_BYTES:
        raise fail("token endpoint sent an oversized body", retryable=status in RETRYABLE_STATUS)
    payload: object = None
    try:
        payload = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        payload = None

    if not 200 <= status < 300:
        retryable = status in RETRYABLE_STATUS
        retry_after = parse_retry_after(_header(headers, "retry-after"), sent_at)
        if isinstance(payload, dict):
            raise fail(
                "token endpoint refused the request",
                error=payload.get("error"),
                description=payload.get("error_description"),
                retryable=retryable,
                retry_after=retry_after,
            )
        raise fail(
            "token endpoint answered with an error and no OAuth error body",
            retryable=retryable,
            retry_after=retry_after,
        )

    if not isinstance(payload, dict):
        kind = "an empty body" if not body else "a body that is not a JSON object"
        raise fail(f"token endpoint answered {status} with {kind}")
    if "error" in payload and "access_token" not in payload:
        raise fail(
            "token endpoint answered with an OAuth error",
            error=payload.get("error"),
            description=payload.get("error_description"),
        )
    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token.strip():
        raise fail("token response has no 'access_token' string")
    if not is_vschar_token(access_token):
        # It could not be sent in an Authorization header; the message never shows it.
        raise fail(
            "token response 'access_token' has characters outside RFC 6749 VSCHAR "
            "(control characters, DEL, non-ASCII, or surrounding spaces)"
        )
    token_type = payload.get("token_type", "bearer" if not require_bearer else None)
    if not isinstance(token_type, str):
        raise fail("token response has no 'token_type' string")
    # Every token is sent as "Authorization: Bearer ...": a token of another type (RFC 6749
    # §7.1) cannot be used. ``require_bearer`` only decides whether a missing type is accepted.
    if token_type.lower() != "bearer":
        raise fail(
            f"token response has token_type {_short_text(token_type, 40, secrets)!r}, not 'bearer'"
        )

    raw_expires = payload.get("expires_in")
    if raw_expires is None:
        if default_expires_in is None:
            raise fail("token response has no 'expires_in'")
        lifetime = float(default_expires_in)
    else:
        if isinstance(raw_expires, bool) or not isinstance(raw_expires, int | float | str):
            raise fail("token response 'expires_in' is not a number")
        try:
            number = float(raw_expires)
        except (ValueError, OverflowError):  # JSON integers have no size limit
            raise fail("token response 'expires_in' is not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise fail("token response 'expires_in' is not a positive number")
        lifetime = number * expires_in_unit
    if lifetime < 1.0:
        raise fail("token response 'expires_in' is shorter than one second")
    if lifetime > MAX_LIFETIME_SECONDS:
        raise fail("token response 'expires_in' is absurdly large (wrong unit?)")
    scope = payload.get("scope")
    return Token(
        access_token=access_token,
        token_type=token_type,
        expires_at=sent_at + lifetime,
        credential=credential,
        scope=scope if isinstance(scope, str) else None,
    )
