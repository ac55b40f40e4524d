"""The configuration schema: hosts, key names, environment variables, aliases and ``Settings``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .._backends import SigningKey
from .._secret import Secret
from .._secret_files import SettingsSource
from .._token import CredentialKind

PRODUCTION_HOST = "https://ims-na1.adobelogin.com"
STAGE_HOST = "https://ims-na1-stg1.adobelogin.com"
ADOBE_OAUTH_PATH = "/ims/token/v3"
ADOBE_JWT_PATH = "/ims/exchange/jwt"

Profile = Literal["adobe", "standard"]
ClientAuth = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
CLIENT_AUTH_METHODS: tuple[str, ...] = (
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
)

#: Canonical key -> environment variable. Also used to name the variable in errors.
ENV_VARS: dict[str, str] = {
    "credential": "IMS_CREDENTIAL",
    "profile": "IMS_PROFILE",
    "client_id": "IMS_CLIENT_ID",
    "client_secret": "IMS_CLIENT_SECRET",
    "org_id": "IMS_ORG_ID",
    "scopes": "IMS_SCOPES",
    "technical_account_id": "IMS_TECHNICAL_ACCOUNT_ID",
    "private_key": "IMS_PRIVATE_KEY",
    "private_key_path": "IMS_PRIVATE_KEY_PATH",
    "private_key_passphrase": "IMS_PRIVATE_KEY_PASSPHRASE",
    "metascopes": "IMS_METASCOPES",
    "ims_host": "IMS_HOST",
    "ims_env": "IMS_ENV",
    "token_url": "IMS_TOKEN_URL",
    "cache": "IMS_CACHE",
    "cache_path": "IMS_CACHE_PATH",
    "cache_prefix": "IMS_CACHE_PREFIX",
    "timeout": "IMS_TIMEOUT",
    "deadline": "IMS_DEADLINE",
    "client_auth": "IMS_CLIENT_AUTH",
    "key_id": "IMS_KEY_ID",
    "audience": "IMS_AUDIENCE",
    "issuer": "IMS_ISSUER",
    "subject": "IMS_SUBJECT",
    "resource": "IMS_RESOURCE",
    "default_expires_in": "IMS_DEFAULT_EXPIRES_IN",
    "jwt_expiry": "IMS_JWT_EXPIRY",
    "refresh_window": "IMS_REFRESH_WINDOW",
    "min_validity": "IMS_MIN_VALIDITY",
    "reject_refresh_interval": "IMS_REJECT_REFRESH_INTERVAL",
    "signing_algorithm": "IMS_SIGNING_ALGORITHM",
    "scope_claim": "IMS_SCOPE_CLAIM",
}

#: Names other tools use (aio-lib-ims, Developer Console, user-sync) -> canonical key.
ALIASES: dict[str, str] = {
    "authentication_method": "credential",
    "ims_org_id": "org_id",
    "meta_scopes": "metascopes",
    "passphrase": "private_key_passphrase",
    "private_key_file": "private_key_path",
    "host": "ims_host",
    "scope": "scopes",
}

KNOWN_KEYS = frozenset(ENV_VARS) | {
    "client_secrets",
    "extra_params",
    "extra_claims",
    "technical_account_email",
}
# Keys that pasted contexts and console files carry and that imstoken does not need.
IGNORED_KEYS = frozenset(
    {"technical_account_email", "id", "name", "integration_type", "env", "description"}
)
BACKEND_TABLES = ("jwt", "oauth")


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated settings for one credential. Secrets are wrapped; repr never shows them."""

    credential: CredentialKind
    profile: Profile
    client_id: str
    token_url: str
    ims_host: str
    client_secret: Secret | None = None
    org_id: str | None = None
    scopes: tuple[str, ...] = ()
    technical_account_id: str | None = None
    metascopes: tuple[str, ...] = ()
    signing_key: SigningKey | None = None
    signing_algorithm: str | None = None
    client_auth: str = "client_secret_post"
    key_id: str | None = None
    audience: str | None = None
    issuer: str | None = None
    subject: str | None = None
    resource: str | None = None
    # Some servers carry API keys in extra parameters or claims: keep them out of repr.
    extra_params: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    extra_claims: tuple[tuple[str, Any], ...] = field(default=(), repr=False)
    default_expires_in: float = 3600.0
    jwt_expiry: int = 300
    cache: str = "memory"
    cache_path: str | None = None
    cache_prefix: str = "imstoken"
    timeout: float = 10.0
    deadline: float = 30.0
    refresh_window: float | None = None
    min_validity: float | None = None
    reject_refresh_interval: float = 60.0
    # Every configured secret, in the order to try them (``client_secrets``); the first is
    # ``client_secret``. ``source`` rebuilds these settings when a secret file changes.
    client_secrets: tuple[Secret, ...] = field(default=(), repr=False)
    source: SettingsSource | None = field(default=None, repr=False, compare=False)

    def cache_key(self) -> str:
        """A stable key from what identifies the credential and its scopes, never the secret."""
        identity = [
            "v1",
            self.credential,
            self.profile,
            self.token_url,
            self.client_id,
            self.org_id or "",
            self.technical_account_id or "",
            sorted(self.scopes),
            sorted(self.metascopes),
            self.audience or "",
            self.issuer or "",
            self.subject or "",
            self.resource or "",
            self.client_auth if self.profile == "standard" else "",
            self.key_id or "",
            self.signing_algorithm or "",
            sorted(self.extra_params),
            sorted(
                (name, json.dumps(value, sort_keys=True, default=str))
                for name, value in self.extra_claims
            ),
        ]
        digest = hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()
        return f"{self.credential}:{digest[:40]}"
