"""``imstoken check``: each of several ``client_secrets`` tried on its own, reported by index."""

from __future__ import annotations

import warnings
from dataclasses import replace

from .. import ConfigError, TokenRequestError
from .._config import settle_settings
from .._factory import provider_from_settings
from ._load import Loaded


def secret_verdicts(loaded: Loaded, kind: str) -> list[str]:
    """One line per secret (``client_secrets[1]: accepted``), never a value; none for one."""
    try:
        settings = settle_settings(loaded.config, credential=kind, base_dir=loaded.base_dir)
    except ConfigError:
        return []  # the credential's own report names the problem
    if len(settings.client_secrets) < 2:
        return []
    lines = []
    for index, secret in enumerate(settings.client_secrets):
        # Memory only: a probe must neither read the shared record (sealed under the active
        # secret, so it would not open: a "planted or tampered" WARNING) nor replace it with one
        # sealed under a secret the running apps do not use.
        alone = replace(
            settings, client_secret=secret, client_secrets=(), source=None, cache="memory"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the retired-JWT warning is reported once already
            provider = provider_from_settings(alone)
        with provider:
            try:
                provider.get_token(force_refresh=True)
            except TokenRequestError as error:
                verdict = "refused" if error.error == "invalid_client" else "failed"
                lines.append(f"client_secrets[{index}]: {verdict} ({error.error or error.message})")
            else:
                lines.append(f"client_secrets[{index}]: accepted")
    return lines
