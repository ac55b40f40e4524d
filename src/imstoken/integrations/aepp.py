"""aepp (Adobe Experience Platform) on a TokenProvider::

    from imstoken.integrations import aepp as ims_aepp
    config = ims_aepp.connect_object(provider, sandbox="prod")
    schemas = aepp.schema.Schema(config=config)         # any aepp class that takes config=

``connect_object`` returns an ``aepp.configs.ConnectObject`` for the provider's credential
(JWT or OAuth: aepp itself speaks only OAuth). Per object: two ConnectObjects for two
providers stay apart in one process. To get there, aepp's
``AdobeRequest.get_oauth_token_and_expiry_for_config`` is wrapped once per process (aepp has
no per-object token hook); the wrapper answers only for configs made here and hands every
other config to aepp's own code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._getter import SCOPES_PLACEHOLDER, ProviderRef, config_argument, identity, provider_in
from ._sdk import Sdk, patch_once

if TYPE_CHECKING:
    from .._provider import TokenProvider

SDK = Sdk(distribution="aepp", extra="aepp", supported="0.6.x (tested: 0.6.0)")

_GETTER = "get_oauth_token_and_expiry_for_config"


def install() -> None:
    """Check aepp's token hook and wrap it (once per process). ``connect_object`` calls this."""
    connector = SDK.load("aepp.connector")
    request_class = SDK.hook(connector, "AdobeRequest")
    SDK.hook(request_class, _GETTER, ("config",))
    token_info = SDK.hook(connector, "TokenInfo", ("token", "expiry"))

    def wrap(original: Any) -> Any:
        def get_oauth_token_and_expiry_for_config(self: Any, *args: Any, **kwargs: Any) -> Any:
            ref = provider_in(config_argument(args, kwargs))
            if ref is None:
                return original(self, *args, **kwargs)
            token, expiry = ref.token_and_expiry()
            self.token = token  # as aepp's own getter leaves it
            return token_info(token=token, expiry=expiry)

        return get_oauth_token_and_expiry_for_config

    patch_once(request_class, _GETTER, wrap)


def connect_object(
    provider: TokenProvider, *, sandbox: str = "prod", environment: str = "prod", **kwargs: Any
) -> Any:
    """An ``aepp.configs.ConnectObject`` whose connectors take their tokens from ``provider``.

    ``kwargs`` go to ``ConnectObject`` (``retry``, ``endpoint`` for ``environment="support"``).
    """
    install()
    configs = SDK.load("aepp.configs")
    connect_class = SDK.hook(configs, "ConnectObject", ("org_id", "client_id", "secret", "scopes"))
    client_id, org_id = identity(provider)
    connect = connect_class(
        org_id=org_id,
        client_id=client_id,
        secret="",
        scopes=SCOPES_PLACEHOLDER,
        sandbox=sandbox,
        environment=environment,
        **kwargs,
    )
    config = SDK.hook(connect, "getConfigObject")()
    if not isinstance(config, dict) or "secret" not in config:
        raise SDK.changed("ConnectObject.getConfigObject() dict with a 'secret' key")
    config["secret"] = ProviderRef(provider)
    return connect
