"""Settings for ``profile = "standard"``: any RFC 6749 / RFC 7523 token endpoint.

Client authentication (``client_secret_basic``, ``client_secret_post``, ``private_key_jwt``),
the signing algorithm that fits the key, and the claims and form parameters a user may add.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._backends import SigningKey
from .._token import CredentialKind
from ._keys import configured_key
from ._schema import CLIENT_AUTH_METHODS, Settings
from ._values import as_bool, as_list, as_seconds, as_str, check_url, config_error, pairs

_RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
# Claims the backend sets itself; extra_claims may not override them.
_RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "jti"})
# Form fields the backend sets itself; extra_params may not override them.
_RESERVED_PARAMS = frozenset(
    {
        "grant_type",
        "assertion",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "scope",
    }
)


def _signing_algorithm(values: Mapping[str, Any], signing_key: SigningKey) -> str:
    algorithm = as_str(
        "signing_algorithm", values.get("signing_algorithm", signing_key.default_algorithm)
    ).upper()
    allowed = _RSA_ALGORITHMS if signing_key.kind == "RSA" else (signing_key.default_algorithm,)
    if algorithm not in allowed:
        # Algorithm names are not secret; naming them makes the fix obvious.
        raise config_error(
            "signing_algorithm",
            f"{algorithm} does not fit the {signing_key.kind} private key "
            f"(use one of {', '.join(allowed)})",
        )
    return algorithm


def _standard_claims(values: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    claims = pairs("extra_claims", values.get("extra_claims"))
    for name, value in claims:
        if name in _RESERVED_CLAIMS:
            raise config_error(
                "extra_claims",
                f"must not set {name!r} (use issuer, subject, audience or jwt_expiry)",
            )
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise config_error("extra_claims", f"{name!r} is not a JSON value") from None
    return claims


def _standard_params(values: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    params = []
    for name, value in pairs("extra_params", values.get("extra_params")):
        if name in _RESERVED_PARAMS:
            raise config_error("extra_params", f"must not set {name!r}: imstoken sets it")
        if name in ("audience", "resource") and values.get(name) is not None:
            raise config_error("extra_params", f"sets {name!r}, which is also given as a key")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        text = str(value) if number else value
        params.append((name, as_str(f"extra_params.{name}", text)))
    return tuple(params)


def standard_settings(
    kind: CredentialKind, values: Mapping[str, Any], common: dict[str, Any], base_dir: Path | None
) -> Settings:
    """RFC 6749 client credentials (``oauth``) or the RFC 7523 JWT-bearer grant (``jwt``)."""
    if "token_url" not in values:
        raise config_error("token_url", "is required with profile = 'standard'")
    token_url = check_url("token_url", values["token_url"])
    has_secret = common["client_secret"] is not None
    if values.get("client_auth") is not None:
        client_auth = as_str("client_auth", values["client_auth"]).lower()
    elif kind == "jwt" and not has_secret:
        # The JWT-bearer grant authenticates by the assertion itself (Google, Salesforce).
        client_auth = "none"
    else:
        client_auth = "client_secret_basic"
    allowed_auth = CLIENT_AUTH_METHODS + (("none",) if kind == "jwt" else ())
    if client_auth not in allowed_auth:
        raise config_error("client_auth", "must be one of " + ", ".join(allowed_auth))
    signing_key = configured_key(values, base_dir)
    needs_key = kind == "jwt" or client_auth == "private_key_jwt"
    if needs_key and signing_key is None:
        raise config_error("private_key_path", "is missing (or give private_key as PEM text)")
    if client_auth in ("client_secret_basic", "client_secret_post") and not has_secret:
        raise config_error("client_secret", f"is missing (client_auth = {client_auth!r} needs it)")
    algorithm = _signing_algorithm(values, signing_key) if signing_key is not None else None

    scopes: tuple[str, ...] = ()
    if values.get("scopes") is not None:
        scopes = as_list("scopes", values["scopes"])
    extra_claims = _standard_claims(values)
    if extra_claims and kind == "oauth" and client_auth != "private_key_jwt":
        raise config_error(
            "extra_claims",
            "needs a JWT to go into (credential = 'jwt' or client_auth = 'private_key_jwt')",
        )
    # Google wants the scopes as a claim of the assertion, not as a form parameter.
    if values.get("scope_claim") is not None and as_bool("scope_claim", values["scope_claim"]):
        if kind != "jwt":
            raise config_error("scope_claim", "only applies to credential = 'jwt'")
        if not scopes:
            raise config_error(
                "scopes", "is missing (scope_claim = true puts them in the assertion)"
            )
        if any(name == "scope" for name, _ in extra_claims):
            raise config_error("extra_claims", "sets 'scope' and scope_claim = true does too")
        extra_claims = (*extra_claims, ("scope", " ".join(scopes)))

    def optional(key: str) -> str | None:
        value = values.get(key)
        return as_str(key, value) if value is not None else None

    return Settings(
        **common,
        token_url=token_url,
        scopes=scopes,
        signing_key=signing_key,
        signing_algorithm=algorithm,
        client_auth=client_auth,
        key_id=optional("key_id"),
        audience=optional("audience"),
        issuer=optional("issuer"),
        subject=optional("subject"),
        resource=optional("resource"),
        extra_params=_standard_params(values),
        extra_claims=extra_claims,
        default_expires_in=as_seconds(
            "default_expires_in",
            values.get("default_expires_in", 3600),
            minimum=1,
            maximum=86400 * 30,
        ),
        technical_account_id=None,
    )
