"""``build_settings``: the keys every profile shares, then the Adobe or the standard profile's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._caches._redis_connect import SCHEMES as REDIS_SCHEMES
from .._errors import ConfigError
from .._secret import Secret
from .._token import CredentialKind
from ._adobe import adobe_settings
from ._merge import merge
from ._schema import PRODUCTION_HOST, STAGE_HOST, Settings
from ._values import as_seconds, as_str, check_url, config_error, expand_user


def _client_secret(values: Mapping[str, Any]) -> Secret | None:
    if "client_secret" in values:
        return Secret(as_str("client_secret", values["client_secret"]))
    secrets = values.get("client_secrets")
    if secrets is None:
        return None
    if isinstance(secrets, str):
        secrets = [secrets]
    if not isinstance(secrets, list | tuple) or not secrets:
        raise ConfigError("must be a non-empty list of strings", key="client_secrets")
    return Secret(as_str("client_secrets", secrets[0]))


def _client_secrets(values: Mapping[str, Any]) -> tuple[Secret, ...]:
    """All of ``client_secrets`` (tried in order on ``invalid_client``), unless one is given."""
    secrets = values.get("client_secrets")
    if "client_secret" in values or not isinstance(secrets, list | tuple):
        return ()
    return tuple(Secret(as_str("client_secrets", secret)) for secret in secrets)


def build_settings(
    config: Mapping[str, Any],
    *,
    credential: str | None = None,
    base_dir: Path | None = None,
) -> Settings:
    """Validate a configuration mapping into ``Settings`` for one credential."""
    chosen, values = merge(config, credential)
    kind: CredentialKind = "jwt" if chosen == "jwt" else "oauth"

    profile = as_str("profile", values.get("profile", "adobe")).lower()
    if profile not in ("adobe", "standard"):
        raise config_error("profile", 'must be "adobe" or "standard"')

    if "client_id" not in values:
        raise config_error("client_id", "is missing")
    client_id = as_str("client_id", values["client_id"])
    client_secret = _client_secret(values)

    ims_env = values.get("ims_env")
    if ims_env is not None:
        env_name = as_str("ims_env", ims_env).lower()
        if env_name not in ("prod", "production", "stage", "stg1"):
            raise config_error("ims_env", 'must be "prod" or "stage"')
    else:
        env_name = "prod"
    default_host = STAGE_HOST if env_name in ("stage", "stg1") else PRODUCTION_HOST
    ims_host = check_url("ims_host", values.get("ims_host", default_host))

    org_id = values.get("org_id")
    if org_id is not None:
        org_id = as_str("org_id", org_id)

    common: dict[str, Any] = {
        "credential": kind,
        "profile": profile,
        "client_id": client_id,
        "client_secret": client_secret,
        "client_secrets": _client_secrets(values),
        "ims_host": ims_host,
        "org_id": org_id,
        "timeout": as_seconds("timeout", values.get("timeout", 10.0), minimum=0.01, maximum=600),
        "deadline": as_seconds(
            "deadline", values.get("deadline", 30.0), minimum=0.01, maximum=3600
        ),
        "cache": _cache_spec(values.get("cache", "memory")),
        "cache_path": (
            _cache_path(values["cache_path"], base_dir) if values.get("cache_path") else None
        ),
        "cache_prefix": as_str("cache_prefix", values.get("cache_prefix", "imstoken")),
        "jwt_expiry": int(
            as_seconds("jwt_expiry", values.get("jwt_expiry", 300), minimum=10, maximum=3600)
        ),
        "refresh_window": (
            as_seconds("refresh_window", values["refresh_window"], minimum=0, maximum=86400)
            if values.get("refresh_window") is not None
            else None
        ),
        "min_validity": (
            as_seconds("min_validity", values["min_validity"], minimum=0, maximum=86400)
            if values.get("min_validity") is not None
            else None
        ),
        "reject_refresh_interval": as_seconds(
            "reject_refresh_interval",
            values.get("reject_refresh_interval", 60.0),
            minimum=0,
            maximum=86400,
        ),
    }

    if profile == "adobe":
        return adobe_settings(kind, values, common, base_dir)
    from ._standard import standard_settings

    return standard_settings(kind, values, common, base_dir)


def _cache_path(value: Any, base_dir: Path | None) -> str:
    text = as_str("cache_path", value)
    if "\x00" in text:
        raise config_error("cache_path", "is not a valid folder path")
    path = expand_user(Path(text), "cache_path")  # the file cache expands it: fail here, eagerly
    if not path.is_absolute() and base_dir is not None:
        # Like private_key_path: relative to the config file, so that an app and a cron job
        # started from different folders share one cache.
        return str(base_dir / path)
    return text


def _cache_spec(value: Any) -> str:
    spec = as_str("cache", value)
    lowered = spec.lower()
    if lowered in ("memory", "file", "none"):
        return lowered
    scheme, sep, _ = lowered.partition("://")
    if sep and scheme in REDIS_SCHEMES:
        return spec
    raise config_error(
        "cache", 'must be "memory", "file" or a redis://, redis+cluster:// or redis+sentinel:// URL'
    )
