"""The shape aepp, aanalytics2 and cjapy share: a getter that returns a token and its expiry.

Each of those SDKs keeps its credential in a config dict, copies that dict into every
connector it builds, and calls ``get_oauth_token_and_expiry_for_config(config)`` when its own
bookkeeping says the token is due. The integrations put a :class:`ProviderRef` where the
config's ``secret`` would be (it survives every copy the SDKs make, and the real secret never
sits in the SDK's config), and replace that getter by one that asks the provider for configs
that carry a ``ProviderRef`` and hands every other config to the SDK's own getter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._provider import TokenProvider

#: Where the provider rides in an SDK config dict: in place of the credential's secret.
SECRET_KEY = "secret"

#: The expiry handed to the SDKs. They store ``now + expiry - 500`` and ask again once that is
#: past; 0 makes them ask before every call. imstoken answers that from memory (no lock, no
#: I/O) and refreshes ahead of expiry itself, so the SDK always sends the provider's current
#: token, also after a refresh, an ``invalidate()`` or a 401 elsewhere in the process.
ASK_EVERY_CALL = 0

#: A placeholder for the SDKs' ``scopes`` field: the provider's configuration decides scopes.
SCOPES_PLACEHOLDER = "imstoken"


class ProviderRef:
    """A provider carried inside an SDK's config dict. Copies of the dict share it."""

    __slots__ = ("provider",)

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def __copy__(self) -> ProviderRef:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ProviderRef:
        return self

    def __repr__(self) -> str:
        return f"<imstoken provider: {self.provider.credential} credential>"

    __str__ = __repr__

    def token_and_expiry(self) -> tuple[str, int]:
        """The provider's current access token, and the expiry that makes the SDK ask again."""
        return self.provider.get_token().access_token, ASK_EVERY_CALL


def provider_in(config: object) -> ProviderRef | None:
    """The ``ProviderRef`` in an SDK config (a dict, or an object with ``getConfigObject``)."""
    if not isinstance(config, Mapping):
        getter = getattr(config, "getConfigObject", None)
        config = getter() if callable(getter) else None
        if not isinstance(config, Mapping):
            return None
    value = config.get(SECRET_KEY)
    return value if isinstance(value, ProviderRef) else None


def config_argument(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> object:
    """The ``config`` argument of a getter call, given by keyword or first position."""
    if "config" in kwargs:
        return kwargs["config"]
    return args[0] if args else None


def identity(provider: TokenProvider) -> tuple[str, str]:
    """``(client_id, org_id)`` as the provider sends them (``x-api-key``, ``x-gw-ims-org-id``).

    This gets a token (from the cache when there is one): the SDK's first connector would
    ask for one right after anyway.
    """
    headers = provider.headers()
    return headers.get("x-api-key", ""), headers.get("x-gw-ims-org-id", "")
