"""Google service-account key files ("type": "service_account") as a standard-profile config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import ConfigError

#: Google's scope for "everything this service account's IAM roles allow".
GOOGLE_DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Keys of Google's key file that are not imstoken keys (the rest may be added by the user).
_GOOGLE_KEYS = frozenset(
    {
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
        "credential",
        "profile",
    }
)


def service_account_to_config(
    data: Mapping[str, Any], *, credential: str | None = None
) -> dict[str, Any]:
    """Map a Google service-account JSON key file to a standard-profile JWT-bearer config.

    ``iss`` is the ``client_email``, ``kid`` the ``private_key_id``, ``aud`` and the token URL the
    ``token_uri``; scopes go in the assertion's ``scope`` claim, as Google requires. Scopes
    default to ``cloud-platform``; imstoken keys added to the file (``scopes``, ``subject`` for
    domain-wide delegation, ``cache``, ...) are used as they are.
    """
    if credential is not None and str(credential).strip().lower() != "jwt":
        raise ConfigError(
            "a Google service-account key file holds a JWT credential: use 'jwt'", key="credential"
        )
    for key in ("client_email", "private_key", "token_uri"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError("is missing from the service-account key file", key=key)
    config: dict[str, Any] = {
        "credential": "jwt",
        "profile": "standard",
        "client_id": data.get("client_id") or data["client_email"],
        "issuer": data["client_email"],
        "token_url": data["token_uri"],
        "audience": data["token_uri"],
        "private_key": data["private_key"],
        "scopes": list(GOOGLE_DEFAULT_SCOPES),
        "scope_claim": True,
    }
    if data.get("private_key_id"):
        config["key_id"] = data["private_key_id"]
    config.update({key: value for key, value in data.items() if key not in _GOOGLE_KEYS})
    return config
