"""cjapy (Customer Journey Analytics) on a TokenProvider::

    from imstoken.integrations import cjapy as ims_cjapy
    cja = cjapy.CJA(config_object=ims_cjapy.config(provider))

``config`` returns a ``cjapy.ConfigObj`` for the provider's credential (JWT or OAuth; cjapy
itself speaks only OAuth and wants the secret and scopes). Per object: two ConfigObjs for two
providers stay apart in one process. To get there, cjapy's
``AdobeRequest.get_oauth_token_and_expiry_for_config`` is wrapped once per process (cjapy has
no per-object token hook); the wrapper answers only for configs made here and hands every
other config to cjapy's own code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._getter import SCOPES_PLACEHOLDER, ProviderRef, config_argument, identity, provider_in
from ._sdk import Sdk, patch_once

if TYPE_CHECKING:
    from .._provider import TokenProvider

SDK = Sdk(distribution="cjapy", extra="cjapy", supported="0.3.x (tested: 0.3.1)")

_GETTER = "get_oauth_token_and_expiry_for_config"


def install() -> None:
    """Check cjapy's token hook and wrap it (once per process). ``config`` calls this."""
    connector = SDK.load("cjapy.connector")
    request_class = SDK.hook(connector, "AdobeRequest")
    SDK.hook(request_class, _GETTER, ("config",))

    def wrap(original: Any) -> Any:
        def get_oauth_token_and_expiry_for_config(
            self: Any, *args: Any, **kwargs: Any
        ) -> dict[str, Any]:
            ref = provider_in(config_argument(args, kwargs))
            if ref is None:
                result: dict[str, Any] = original(self, *args, **kwargs)
                return result
            token, expiry = ref.token_and_expiry()
            return {"token": token, "expiry": expiry}

        return get_oauth_token_and_expiry_for_config

    patch_once(request_class, _GETTER, wrap)


def config(provider: TokenProvider) -> Any:
    """A ``cjapy.ConfigObj`` whose connectors take their tokens from ``provider``."""
    install()
    configs = SDK.load("cjapy.configs")
    config_class = SDK.hook(configs, "ConfigObj", ("org_id", "client_id", "secret", "scopes"))
    client_id, org_id = identity(provider)
    made = config_class(org_id=org_id, client_id=client_id, secret="-", scopes=SCOPES_PLACEHOLDER)
    values = getattr(made, "config_object", None)
    if not isinstance(values, dict) or "secret" not in values:
        raise SDK.changed("ConfigObj.config_object dict with a 'secret' key")
    values["secret"] = ProviderRef(provider)
    return made
