"""aanalytics2 (Adobe Analytics 2.0 API) on a TokenProvider::

    from imstoken.integrations import aanalytics2 as ims_aa
    config = ims_aa.config(provider)
    analytics = aanalytics2.Analytics("mycompany", config=config)   # or aanalytics2.Login(**config)

``config`` returns an ``aanalytics2.configs.ConfigObj`` for the provider's credential (JWT or
OAuth; ``configure(oauth=True, token=...)`` would trust one token for 22 hours with no way to
refresh it). Per object: two ConfigObjs for two providers stay apart in one process. To get
there, the module function ``aanalytics2.connector.get_oauth_token_and_expiry_for_config`` is
wrapped once per process (aanalytics2 has no per-object token hook); the wrapper answers only
for configs made here and hands every other config to aanalytics2's own code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._getter import ProviderRef, config_argument, identity, provider_in
from ._sdk import Sdk, patch_once

if TYPE_CHECKING:
    from .._provider import TokenProvider

SDK = Sdk(distribution="aanalytics2", extra="aanalytics2", supported="0.5.x (tested: 0.5.5.post3)")

_GETTER = "get_oauth_token_and_expiry_for_config"


def install() -> None:
    """Check aanalytics2's token hook and wrap it (once per process). ``config`` calls this."""
    connector = SDK.load("aanalytics2.connector")
    SDK.hook(connector, _GETTER, ("config",))

    def wrap(original: Any) -> Any:
        def get_oauth_token_and_expiry_for_config(*args: Any, **kwargs: Any) -> Any:
            ref = provider_in(config_argument(args, kwargs))
            if ref is None:
                return original(*args, **kwargs)
            token, expiry = ref.token_and_expiry()
            return {"token": token, "expiry": expiry}

        return get_oauth_token_and_expiry_for_config

    patch_once(connector, _GETTER, wrap)


def config(provider: TokenProvider, *, proxy: str | dict[str, str] | None = None) -> Any:
    """An ``aanalytics2.configs.ConfigObj`` whose connectors take tokens from ``provider``."""
    install()
    configs = SDK.load("aanalytics2.configs")
    config_class = SDK.hook(configs, "ConfigObj", ("config", "header"))
    client_id, org_id = identity(provider)
    values = {
        "org_id": org_id,
        "client_id": client_id,
        "tech_id": "",
        "secret": ProviderRef(provider),
        "scopes": "",
        "date_limit": 0,
        "token": "",
        "oauthTokenEndpointV2": "",
        "proxy": proxy,
    }
    header = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Authorization": "Bearer ",
        "x-api-key": client_id,
        "x-gw-ims-org-id": org_id,
    }
    return config_class(config=values, header=header)
