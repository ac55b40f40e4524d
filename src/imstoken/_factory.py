"""from_config / from_env / from_file: configuration in, a ready TokenProvider out."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._backends._adobe import AdobeJWTBackend, AdobeOAuthBackend
from ._backends._response import Backend
from ._caches._protocol import open_shared_cache
from ._config._settings import (
    Settings,
    build_settings,
    chosen_credential,
    env_to_config,
    expand_user,
    read_config_file,
)
from ._errors import ConfigError
from ._policy import RefreshPolicy
from ._provider import TokenProvider


def build_backend(settings: Settings) -> Backend:
    """The sans-I/O backend for validated settings."""
    if settings.profile == "standard":
        from ._backends._standard import build_standard_backend

        return build_standard_backend(settings)
    assert settings.client_secret is not None
    if settings.credential == "oauth":
        return AdobeOAuthBackend(
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scopes=settings.scopes,
        )
    assert settings.signing_key is not None
    assert settings.org_id is not None and settings.technical_account_id is not None
    return AdobeJWTBackend(
        token_url=settings.token_url,
        ims_host=settings.ims_host,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        org_id=settings.org_id,
        technical_account_id=settings.technical_account_id,
        metascopes=settings.metascopes,
        signing_key=settings.signing_key,
        jwt_expiry_seconds=settings.jwt_expiry,
    )


def api_headers(settings: Settings) -> dict[str, str]:
    """The headers Adobe APIs want beside ``Authorization``."""
    if settings.profile != "adobe":
        return {}
    headers = {"x-api-key": settings.client_id}
    if settings.org_id:
        headers["x-gw-ims-org-id"] = settings.org_id
    return headers


def provider_from_settings(settings: Settings, **options: Any) -> TokenProvider:
    """Wire backend, caches and policy for validated settings."""
    backend = build_backend(settings)
    shared = options.pop("shared_cache", None)
    if shared is None:
        shared = open_shared_cache(
            settings.cache, path=settings.cache_path, prefix=settings.cache_prefix
        )
    policy = options.pop("policy", None) or RefreshPolicy(
        refresh_window=settings.refresh_window, min_validity=settings.min_validity
    )
    provider = TokenProvider(
        backend,
        cache_key=settings.cache_key(),
        api_headers=api_headers(settings),
        shared_cache=shared,
        policy=policy,
        timeout=settings.timeout,
        deadline=settings.deadline,
        **options,
    )
    _warn_if_retired(settings)
    return provider


def _warn_if_retired(settings: Settings) -> None:
    from ._deprecation import warn_if_retired_jwt

    warn_if_retired_jwt(settings)


def from_config(
    config: Mapping[str, Any],
    *,
    credential: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> TokenProvider:
    """A provider from a mapping (e.g. parsed TOML or JSON).

    ``credential`` overrides the mapping's ``credential`` key. Relative key paths resolve
    against ``base_dir`` (default: the working directory). ``options`` go to
    :class:`TokenProvider` (``clock``, ``on_token``, ``http_client``, ...).
    """
    settings = build_settings(
        resolve_env_references(config, credential=credential),
        credential=credential,
        base_dir=Path(base_dir) if base_dir is not None else None,
    )
    return provider_from_settings(settings, **options)


def from_env(
    environ: Mapping[str, str] | None = None,
    *,
    credential: str | None = None,
    **options: Any,
) -> TokenProvider:
    """A provider from ``IMS_*`` environment variables (``environ`` defaults to ``os.environ``)."""
    config = env_to_config(os.environ if environ is None else environ)
    if not config:
        raise ConfigError(
            "no IMS_* environment variables are set (need at least IMS_CREDENTIAL and "
            "IMS_CLIENT_ID)"
        )
    return from_config(config, credential=credential, **options)


#: Keys whose value may be ``{ env = "VARIABLE" }``: a file that names the variable holding
#: the secret instead of the secret itself (``imstoken convert --secrets-from-env``).
ENV_REFERENCE_KEYS = frozenset(
    {"client_secret", "private_key", "private_key_passphrase", "passphrase"}
)


def resolve_env_references(
    config: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    credential: str | None = None,
) -> Mapping[str, Any]:
    """Replace ``{ env = "NAME" }`` values of secret keys by the variable's value.

    Only the references the chosen credential uses are read: after the cut-over, the JWT
    credential's variables can be removed without breaking the OAuth credential in use.
    """
    if not isinstance(config, Mapping):
        return config  # build_settings names the problem
    environ = os.environ if environ is None else environ
    # None (missing or invalid): resolve everything; build_settings names the problem.
    chosen = chosen_credential(config, credential)
    overridden: set[str] = set()
    if chosen is not None and isinstance(config.get(chosen), Mapping):
        overridden = {k for k in config[chosen] if k in ENV_REFERENCE_KEYS}

    def resolve(table: Mapping[str, Any], where: str) -> dict[str, Any]:
        out = dict(table)
        for key, value in table.items():
            if key not in ENV_REFERENCE_KEYS or not isinstance(value, Mapping):
                continue
            name = value.get("env")
            if set(value) != {"env"} or not isinstance(name, str) or not name.strip():
                raise ConfigError(f'must be a string or {{ env = "VARIABLE" }} ({where})', key=key)
            resolved = environ.get(name.strip())
            if resolved is None or not resolved.strip():
                raise ConfigError(
                    f"names the environment variable {name.strip()}, which is not set ({where})",
                    key=key,
                )
            out[key] = resolved
        return out

    top = {k: v for k, v in config.items() if k not in overridden}
    resolved = resolve(top, "the top level")
    for table in ("jwt", "oauth"):
        if isinstance(config.get(table), Mapping) and chosen in (None, table):
            resolved[table] = resolve(config[table], f"[{table}]")
        elif table in config:
            resolved[table] = config[table]
    return resolved


def load_file_config(
    path: str | os.PathLike[str],
    *,
    credential: str | None = None,
    private_key_path: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Read a config file (TOML, JSON, Developer Console or service-account JSON) as a mapping."""
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(f"from_file needs a path, not {type(path).__name__}")
    file_path = expand_user(Path(os.fspath(path)))
    config = read_config_file(file_path)
    from ._config._formats import normalise_file_config

    config = normalise_file_config(config, credential=credential)
    if private_key_path is not None:
        config = dict(config)
        config["private_key_path"] = os.fspath(
            expand_user(Path(os.fspath(private_key_path)), "private_key_path").absolute()
        )
        for table in ("jwt", "oauth"):
            if isinstance(config.get(table), dict):
                config[table] = {
                    k: v
                    for k, v in config[table].items()
                    if k not in ("private_key", "private_key_path", "private_key_file")
                }
        config.pop("private_key", None)
        config.pop("private_key_file", None)  # an alias of private_key_path: "given twice"
    return config, file_path.absolute().parent


def from_file(
    path: str | os.PathLike[str],
    *,
    credential: str | None = None,
    private_key_path: str | os.PathLike[str] | None = None,
    **options: Any,
) -> TokenProvider:
    """A provider from a ``.toml`` or ``.json`` file.

    A Developer Console project JSON ("Download JSON") is recognised; pick its credential with
    ``credential=`` and give the key it lacks with ``private_key_path=``. A relative
    ``private_key_path`` inside the file resolves against the file's folder.
    """
    config, base_dir = load_file_config(
        path, credential=credential, private_key_path=private_key_path
    )
    return from_config(config, credential=credential, base_dir=base_dir, **options)
