"""from_config / from_env / from_file: configuration in, a ready TokenProvider out."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypedDict, Unpack

import httpx

from ._backends import (
    AdobeJWTBackend,
    AdobeOAuthBackend,
    AssertionSigner,
    Backend,
)
from ._caches import SharedCache
from ._caches._sealed import seal_shared
from ._caches._select import open_shared_cache
from ._config import (
    Settings,
    build_settings,
    env_to_config,
    load_file_config,
    resolve_env_references,
    settle_settings,
)
from ._config._origin import located
from ._errors import ConfigError, TokenRequestError
from ._memo import Prepared, config_digest, is_plain, memo
from ._policy import RefreshPolicy
from ._provider import TokenProvider
from ._retry import Backoff
from ._rotation import credential_backend
from ._token import Token


class ProviderOptions(TypedDict, total=False):
    """Keyword options of :func:`from_config`, :func:`from_env` and :func:`from_file`.

    mypy checks them at the call; a misspelt one is a ``TypeError`` that names it.
    """

    on_token: Callable[[Token], object]
    """Called with each new Token (metrics, logs)."""
    on_error: Callable[[TokenRequestError], object]
    """Called with each failed fetch, after its retries."""
    http_client: httpx.Client
    """Your own httpx client for the token endpoint (sync); imstoken does not close it."""
    async_http_client: httpx.AsyncClient
    """Your own httpx client for the token endpoint (asyncio); imstoken does not close it."""
    policy: RefreshPolicy
    """When a token counts as fresh, stale or expired (overrides the config's values)."""
    backoff: Backoff
    """How transient failures are retried within ``deadline``."""
    shared_cache: SharedCache
    """A shared cache object to use instead of the one the ``cache`` key names."""
    clock: Callable[[], float]
    """The wall clock, Unix seconds (inject in tests)."""
    monotonic: Callable[[], float]
    """A monotonic clock, seconds (inject in tests)."""
    sleep: Callable[[float], None]
    """How sync retries wait (inject in tests)."""
    async_sleep: Callable[[float], Awaitable[None]]
    """How asyncio retries wait (inject in tests)."""
    rng: random.Random
    """Jitter source for retries (seed it in tests)."""


_OPTION_NAMES = frozenset(ProviderOptions.__annotations__)


def _check_options(function: str, options: Mapping[str, object]) -> None:
    for name in options:
        if name not in _OPTION_NAMES:
            import difflib  # lazily: only a misspelt option pays for it

            close = difflib.get_close_matches(name, sorted(_OPTION_NAMES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}{hint}")


def build_backend(settings: Settings) -> Backend:
    """The sans-I/O backend for validated settings."""
    if settings.profile == "standard":
        return _standard_backend(settings)
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


def _standard_backend(settings: Settings) -> Backend:
    """The backend for ``profile = "standard"`` settings."""
    from ._backends._standard import (
        ClientAuthentication,
        StandardClientCredentialsBackend,
        StandardJWTBearerBackend,
    )

    key = settings.signing_key
    signer = None
    if key is not None:
        signer = AssertionSigner(
            key, settings.signing_algorithm or "RS256", settings.key_id, settings.jwt_expiry
        )
    if settings.credential == "oauth":
        if signer is not None:  # extra claims go into the private_key_jwt client assertion
            signer = replace(signer, claims=settings.extra_claims)
        client = ClientAuthentication(
            settings.client_auth, settings.client_id, settings.client_secret, signer
        )
        return StandardClientCredentialsBackend(
            settings.token_url,
            client,
            settings.scopes,
            settings.audience,
            settings.resource,
            settings.extra_params,
            settings.default_expires_in,
        )
    if signer is None:
        raise ConfigError("is missing (or give private_key as PEM text)", key="private_key_path")
    # The JWT-bearer grant: extra claims go into the grant assertion.
    client = ClientAuthentication(
        settings.client_auth, settings.client_id, settings.client_secret, signer
    )
    return StandardJWTBearerBackend(
        token_url=settings.token_url,
        client=client,
        signer=replace(signer, claims=settings.extra_claims),
        issuer=settings.issuer or settings.client_id,
        audience=settings.audience or settings.token_url,
        subject=settings.subject,
        scopes=settings.scopes,
        resource=settings.resource,
        extra_params=settings.extra_params,
        default_expires_in=settings.default_expires_in,
    )


def api_headers(settings: Settings) -> dict[str, str]:
    """The headers Adobe APIs want beside ``Authorization``."""
    if settings.profile != "adobe":
        return {}
    headers = {"x-api-key": settings.client_id}
    if settings.org_id:
        headers["x-gw-ims-org-id"] = settings.org_id
    return headers


def provider_from_settings(
    settings: Settings, **options: Unpack[ProviderOptions]
) -> TokenProvider:
    """Wire backend, caches and policy for validated settings."""
    return _provider_from_prepared(
        Prepared(settings, settings.cache_key(), api_headers(settings)), options
    )


def _provider_from_prepared(prepared: Prepared, options: ProviderOptions) -> TokenProvider:
    settings = prepared.settings
    # Several secrets, or secrets read from files: a rotating backend of the provider's own.
    backend = prepared.backend or credential_backend(settings, build_backend)
    options = options.copy()
    # Records in a file or Redis are sealed with the credential's secret material.
    clock = options.get("clock", time.time)
    if options.get("shared_cache") is None:
        shared = open_shared_cache(
            settings.cache,
            path=settings.cache_path,
            prefix=settings.cache_prefix,
            monotonic=options.get("monotonic", time.monotonic),
            sleep=options.get("sleep", time.sleep),
        )
        if shared is not None:
            options["shared_cache"] = seal_shared(shared, backend.sealing_material, clock=clock)
    else:  # a FileCache or RedisCache given as an option is sealed too
        options["shared_cache"] = seal_shared(
            options["shared_cache"], backend.sealing_material, clock=clock
        )
    if options.get("policy") is None:
        options["policy"] = RefreshPolicy(
            refresh_window=settings.refresh_window, min_validity=settings.min_validity
        )
    provider = TokenProvider(
        backend,
        cache_key=prepared.cache_key,
        api_headers=prepared.api_headers,
        timeout=settings.timeout,
        deadline=settings.deadline,
        reject_refresh_interval=settings.reject_refresh_interval,
        **options,
    )
    if settings.credential == "jwt":  # only the JWT credential was retired
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
    **options: Unpack[ProviderOptions],
) -> TokenProvider:
    """A provider from a mapping (e.g. parsed TOML or JSON).

    ``credential`` overrides the mapping's ``credential`` key. Relative key paths resolve
    against ``base_dir`` (default: the working directory). ``options``: see
    :class:`ProviderOptions`.
    """
    _check_options("from_config", options)
    folder = Path(base_dir) if base_dir is not None else None
    return _from_mapping(config, credential, folder, options)


def _from_mapping(
    config: Mapping[str, Any],
    credential: str | None,
    base_dir: Path | None,
    options: ProviderOptions,
) -> TokenProvider:
    """What every factory ends with, once its options are checked."""
    plain = is_plain(config)
    if not plain and config_digest(config, credential, base_dir) is None:
        # Secrets or keys read from files (followed when they change), or a configuration that
        # cannot be remembered: settled afresh each time.
        settings = settle_settings(config, credential=credential, base_dir=base_dir)
        prepared = Prepared(settings, settings.cache_key(), api_headers(settings))
    else:
        # A plain mapping (no tables, no references) has nothing to resolve.
        resolved = config if plain else resolve_env_references(config, credential=credential)
        # A known configuration (same contents, mutated or not since) is not validated again.
        digest = config_digest(resolved, credential, base_dir, plain=plain)
        found = memo.get(digest) if digest is not None else None
        if found is None:
            settings = build_settings(resolved, credential=credential, base_dir=base_dir)
            shareable = settings.source is None and len(settings.client_secrets) < 2
            backend = build_backend(settings) if shareable else None
            found = Prepared(settings, settings.cache_key(), api_headers(settings), backend)
            if digest is not None:
                memo.put(digest, found)
        prepared = found
    try:
        return _provider_from_prepared(prepared, options)
    except ConfigError as error:  # e.g. a Redis URL option: name the source that applies
        raise located(error, config, credential) from error.__cause__


def from_env(
    environ: Mapping[str, str] | None = None,
    *,
    credential: str | None = None,
    **options: Unpack[ProviderOptions],
) -> TokenProvider:
    """A provider from ``IMS_*`` environment variables (``environ`` defaults to ``os.environ``).

    ``options``: see :class:`ProviderOptions`.
    """
    _check_options("from_env", options)
    config = env_to_config(os.environ if environ is None else environ)
    if not config:
        raise ConfigError(
            "no IMS_* environment variables are set (need at least IMS_CREDENTIAL and "
            "IMS_CLIENT_ID)"
        )
    return _from_mapping(config, credential, None, options)


def from_file(
    path: str | os.PathLike[str],
    *,
    credential: str | None = None,
    private_key_path: str | os.PathLike[str] | None = None,
    **options: Unpack[ProviderOptions],
) -> TokenProvider:
    """A provider from a ``.toml`` or ``.json`` file.

    A Developer Console project JSON ("Download JSON") is recognised; pick its credential with
    ``credential=`` and give the key it lacks with ``private_key_path=``. A relative
    ``private_key_path`` inside the file resolves against the file's folder. ``options``: see
    :class:`ProviderOptions`.
    """
    _check_options("from_file", options)
    config, base_dir = load_file_config(
        path, credential=credential, private_key_path=private_key_path
    )
    return _from_mapping(config, credential, base_dir, options)
