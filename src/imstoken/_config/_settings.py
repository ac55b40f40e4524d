"""Configuration: mappings, ``IMS_*`` environment variables and files into validated settings.

Every ``ConfigError`` is raised here, eagerly, before any request is sent. Errors name the key
and its environment variable, never the value.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .._backends import SigningKey
from .._errors import ConfigError
from .._secret import Secret
from .._token import CredentialKind
from ._keys import load_signing_key

logger = logging.getLogger("imstoken")

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


def _env(key: str) -> str | None:
    return ENV_VARS.get(key)


def _error(key: str, message: str) -> ConfigError:
    return ConfigError(message, key=key, env_var=_env(key))


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


# ---------------------------------------------------------------- value checks


def _as_str(key: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _error(key, f"must be a string, not {type(value).__name__}")
    text: str = value.strip()
    if not text and not allow_empty:
        raise _error(key, "must not be empty")
    return text


def _as_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [item.strip() for item in value.replace(" ", ",").split(",")]
    elif isinstance(value, list | tuple):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise _error(key, f"must be a list of strings, found {type(item).__name__}")
            items.append(item.strip())
    else:
        raise _error(key, f"must be a list of strings, not {type(value).__name__}")
    cleaned = tuple(dict.fromkeys(item for item in items if item))
    if not cleaned:
        raise _error(key, "must name at least one scope")
    return cleaned


def _as_seconds(key: str, value: Any, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool):
        raise _error(key, "must be a number of seconds, not a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _error(key, "must be a number of seconds") from None
    if not isinstance(value, int | float):
        raise _error(key, f"must be a number of seconds, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range (TOML and JSON allow them)
        number = math.inf
    if not math.isfinite(number) or not minimum <= number <= maximum:
        raise _error(key, f"must be between {minimum:g} and {maximum:g} seconds")
    return number


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        import ipaddress  # lazily, like difflib and tomllib: import time counts

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(key: str, value: Any) -> str:
    """An https URL, or http to a loopback host (tests, local IMS). No credentials in it."""
    text = _as_str(key, value)
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _error(key, "is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise _error(key, "must be an https:// URL")
    if parts.scheme == "http" and not _is_loopback(host):
        raise _error(key, "must use https (plain http is only allowed to a loopback host)")
    if parts.username or parts.password:
        raise _error(key, "must not carry credentials in the URL")
    if parts.fragment:
        raise _error(key, "must not have a #fragment")
    if key == "ims_host":
        if parts.query:
            raise _error(key, "must be a host URL without a ?query")
        if parts.path.rstrip("/").endswith(("/ims/token/v3", "/ims/token/v2", "/ims/exchange/jwt")):
            raise _error(key, "is a token endpoint, not a host: set token_url for a full URL")
    return text.rstrip("/") if key == "ims_host" else text


# ---------------------------------------------------------------- merging


def _canonical(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Apply aliases; reject a key given twice under two names; warn on unknown keys."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if not isinstance(name, str):
            raise ConfigError(f"configuration keys must be strings ({where})")
        if name in BACKEND_TABLES:
            continue
        key = ALIASES.get(name, name)
        if key in out:
            raise ConfigError(f"is given twice in {where} (once as {name!r})", key=key)
        if key not in KNOWN_KEYS and key not in IGNORED_KEYS:
            import difflib

            close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            logger.warning("imstoken: ignoring unknown configuration key %r%s", name, hint)
            continue
        out[key] = value
    return out


def chosen_credential(config: Mapping[str, Any], credential: str | None = None) -> str | None:
    """``"jwt"`` or ``"oauth"``: what ``credential`` (or the mapping) selects; a mapping that
    names none but holds one backend table selects that one. None if missing or invalid."""
    chosen = credential
    if chosen is None:
        chosen = config.get("credential", config.get("authentication_method"))
    if chosen is None:
        present = [name for name in BACKEND_TABLES if isinstance(config.get(name), Mapping)]
        return present[0] if len(present) == 1 else None
    if isinstance(chosen, str) and chosen.strip().lower() in BACKEND_TABLES:
        return chosen.strip().lower()
    return None


def merge(config: Mapping[str, Any], credential: str | None) -> tuple[str, dict[str, Any]]:
    """Shared keys, overlaid by the ``[jwt]``/``[oauth]`` table of the chosen credential."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"configuration must be a mapping, not {type(config).__name__}")
    shared = _canonical(config, "the top level")
    chosen = chosen_credential(config, credential)
    if chosen is None:
        if credential is None and shared.get("credential") is None:
            raise _error("credential", 'is missing: set credential = "oauth" or "jwt"')
        raise _error("credential", 'must be "oauth" or "jwt"')
    merged = dict(shared)
    table = config.get(chosen)
    if table is not None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{chosen}] must be a table of keys", key=chosen)
        merged.update(_canonical(table, f"[{chosen}]"))
    merged["credential"] = chosen
    return chosen, merged


# ---------------------------------------------------------------- settings


def _private_key(values: Mapping[str, Any], base_dir: Path | None) -> SigningKey | None:
    pem_text = values.get("private_key")
    path_value = values.get("private_key_path")
    passphrase_value = values.get("private_key_passphrase")
    passphrase: str | None = None
    if passphrase_value is not None:
        passphrase = _as_str("private_key_passphrase", passphrase_value, allow_empty=True) or None
    if pem_text is not None and path_value is not None:
        raise _error("private_key", "give private_key or private_key_path, not both")
    if pem_text is not None:
        text = _as_str("private_key", pem_text)
        # Env variables and JSON often carry the PEM with literal "\n".
        if "\\n" in text and "\n" not in text:
            text = text.replace("\\n", "\n")
        return load_signing_key(
            text.encode(), passphrase, key="private_key", env_var=_env("private_key")
        )
    if path_value is not None:
        if not isinstance(path_value, str | os.PathLike):
            raise _error("private_key_path", "must be a file path string")
        path = expand_user(Path(os.fspath(path_value)), "private_key_path")
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise _error("private_key_path", "names a file that does not exist") from None
        except IsADirectoryError:
            raise _error("private_key_path", "names a folder, not a key file") from None
        except OSError as exc:
            raise _error(
                "private_key_path", f"could not be read ({exc.strerror or type(exc).__name__})"
            ) from None
        except ValueError:  # a NUL character: no file can have that name
            raise _error("private_key_path", "is not a valid file path") from None
        return load_signing_key(
            data, passphrase, key="private_key_path", env_var=_env("private_key_path")
        )
    return None


def expand_user(path: Path, key: str | None = None) -> Path:
    """``~`` expanded; ``~name`` of an unknown user is a ConfigError, not a RuntimeError."""
    try:
        return path.expanduser()
    except RuntimeError:
        message = "starts with ~ but that home folder is unknown"
        if key is None:
            raise ConfigError(f"the path {str(path)!r} {message}") from None
        raise _error(key, message) from None


def _client_secret(values: Mapping[str, Any]) -> Secret | None:
    if "client_secret" in values:
        return Secret(_as_str("client_secret", values["client_secret"]))
    secrets = values.get("client_secrets")
    if secrets is None:
        return None
    if isinstance(secrets, str):
        secrets = [secrets]
    if not isinstance(secrets, list | tuple) or not secrets:
        raise ConfigError("must be a non-empty list of strings", key="client_secrets")
    return Secret(_as_str("client_secrets", secrets[0]))


def _pairs(key: str, value: Any) -> tuple[tuple[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError("must be a table (mapping) of names to values", key=key)
    out = []
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigError("must have non-empty string names", key=key)
        out.append((name, item))
    return tuple(out)


def build_settings(
    config: Mapping[str, Any],
    *,
    credential: str | None = None,
    base_dir: Path | None = None,
) -> Settings:
    """Validate a configuration mapping into ``Settings`` for one credential."""
    chosen, values = merge(config, credential)
    kind: CredentialKind = "jwt" if chosen == "jwt" else "oauth"

    profile = _as_str("profile", values.get("profile", "adobe")).lower()
    if profile not in ("adobe", "standard"):
        raise _error("profile", 'must be "adobe" or "standard"')

    if "client_id" not in values:
        raise _error("client_id", "is missing")
    client_id = _as_str("client_id", values["client_id"])
    client_secret = _client_secret(values)

    ims_env = values.get("ims_env")
    if ims_env is not None:
        env_name = _as_str("ims_env", ims_env).lower()
        if env_name not in ("prod", "production", "stage", "stg1"):
            raise _error("ims_env", 'must be "prod" or "stage"')
    else:
        env_name = "prod"
    default_host = STAGE_HOST if env_name in ("stage", "stg1") else PRODUCTION_HOST
    ims_host = check_url("ims_host", values.get("ims_host", default_host))

    org_id = values.get("org_id")
    if org_id is not None:
        org_id = _as_str("org_id", org_id)

    common: dict[str, Any] = {
        "credential": kind,
        "profile": profile,
        "client_id": client_id,
        "client_secret": client_secret,
        "ims_host": ims_host,
        "org_id": org_id,
        "timeout": _as_seconds("timeout", values.get("timeout", 10.0), minimum=0.01, maximum=600),
        "deadline": _as_seconds(
            "deadline", values.get("deadline", 30.0), minimum=0.01, maximum=3600
        ),
        "cache": _cache_spec(values.get("cache", "memory")),
        "cache_path": (
            _cache_path(values["cache_path"], base_dir) if values.get("cache_path") else None
        ),
        "cache_prefix": _as_str("cache_prefix", values.get("cache_prefix", "imstoken")),
        "jwt_expiry": int(
            _as_seconds("jwt_expiry", values.get("jwt_expiry", 300), minimum=10, maximum=3600)
        ),
        "refresh_window": (
            _as_seconds("refresh_window", values["refresh_window"], minimum=0, maximum=86400)
            if values.get("refresh_window") is not None
            else None
        ),
        "min_validity": (
            _as_seconds("min_validity", values["min_validity"], minimum=0, maximum=86400)
            if values.get("min_validity") is not None
            else None
        ),
    }

    if profile == "adobe":
        return _adobe_settings(kind, values, common, base_dir)
    from ._standard import standard_settings

    return standard_settings(kind, values, common, base_dir)


def _cache_path(value: Any, base_dir: Path | None) -> str:
    text = _as_str("cache_path", value)
    if "\x00" in text:
        raise _error("cache_path", "is not a valid folder path")
    path = expand_user(Path(text), "cache_path")  # the file cache expands it: fail here, eagerly
    if not path.is_absolute() and base_dir is not None:
        # Like private_key_path: relative to the config file, so that an app and a cron job
        # started from different folders share one cache.
        return str(base_dir / path)
    return text


def _cache_spec(value: Any) -> str:
    spec = _as_str("cache", value)
    lowered = spec.lower()
    if lowered in ("memory", "file", "none"):
        return lowered
    if lowered.startswith(("redis://", "rediss://", "unix://")):
        return spec
    raise _error("cache", 'must be "memory", "file" or a redis:// URL')


def _adobe_settings(
    kind: CredentialKind, values: Mapping[str, Any], common: dict[str, Any], base_dir: Path | None
) -> Settings:
    if common["client_secret"] is None:
        raise _error("client_secret", "is missing (or give client_secrets)")
    if common["org_id"] is None:
        raise _error("org_id", "is missing (the IMS organization id, ending in @AdobeOrg)")
    if not common["org_id"].endswith("@AdobeOrg"):
        raise _error("org_id", "must end with @AdobeOrg")
    host = common["ims_host"]
    if kind == "oauth":
        if "scopes" not in values:
            raise _error(
                "scopes",
                'is missing (e.g. scopes = ["openid", "AdobeID"], IMS_SCOPES=openid,AdobeID)',
            )
        token_url = values.get("token_url")
        return Settings(
            **common,
            token_url=check_url("token_url", token_url) if token_url else host + ADOBE_OAUTH_PATH,
            scopes=_as_list("scopes", values["scopes"]),
        )
    if "technical_account_id" not in values:
        raise _error("technical_account_id", "is missing (it ends in @techacct.adobe.com)")
    technical_account_id = _as_str("technical_account_id", values["technical_account_id"])
    if not technical_account_id.endswith("@techacct.adobe.com"):
        raise _error("technical_account_id", "must end with @techacct.adobe.com")
    if "metascopes" not in values:
        raise _error("metascopes", "is missing (e.g. ['ent_analytics_bulk_ingest_sdk'])")
    metascopes = _as_list("metascopes", values["metascopes"])
    signing_key = _private_key(values, base_dir)
    if signing_key is None:
        raise _error("private_key_path", "is missing (or give private_key as PEM text)")
    if signing_key.kind != "RSA":
        raise _error("private_key", "must be an RSA key: Adobe signs the JWT with RS256")
    token_url = values.get("token_url")
    return Settings(
        **common,
        token_url=check_url("token_url", token_url) if token_url else host + ADOBE_JWT_PATH,
        technical_account_id=technical_account_id,
        metascopes=metascopes,
        signing_key=signing_key,
        signing_algorithm="RS256",
    )
