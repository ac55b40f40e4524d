"""Credential backends, sans-I/O: settings and "now" in, a token request out; a response in, a
Token or a typed error out. No sockets, no cache, no clock of their own, and no configuration:
they import only the token, error and secret modules.

- ``_protocol``: the ``Backend`` protocol and the ``TokenRequest`` value;
- ``_response``: parsing a token-endpoint response (RFC 6749 §5.1, §5.2) and ``Retry-After``;
- ``_signing``: signing keys, JWS assertions, reading a JWT without verifying it;
- ``_adobe``: Adobe OAuth Server-to-Server and Service Account (JWT);
- ``_standard``: any OAuth 2.0 server (client credentials, RFC 7523 JWT bearer); imported
  where it is used, so an app on the Adobe profile never loads it.
"""

from ._adobe import AdobeJWTBackend, AdobeOAuthBackend, metascope_claim
from ._protocol import Backend, TokenRequest
from ._response import (
    MAX_BODY_BYTES,
    MAX_LIFETIME_SECONDS,
    RETRYABLE_STATUS,
    ResponseRules,
    parse_retry_after,
    parse_token_response,
)
from ._signing import AssertionSigner, SigningKey, unverified_claims, unverified_header

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_LIFETIME_SECONDS",
    "RETRYABLE_STATUS",
    "AdobeJWTBackend",
    "AdobeOAuthBackend",
    "AssertionSigner",
    "Backend",
    "ResponseRules",
    "SigningKey",
    "TokenRequest",
    "metascope_claim",
    "parse_retry_after",
    "parse_token_response",
    "unverified_claims",
    "unverified_header",
]
