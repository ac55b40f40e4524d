"""umapi-client (User Management API) on a TokenProvider::

    from imstoken.integrations import umapi as ims_umapi
    conn = umapi_client.Connection(org_id, auth=ims_umapi.auth(provider))

``auth`` returns a ``requests`` auth object over the provider (JWT or OAuth; umapi's own
``JWTAuth`` and ``OAuthS2S`` post to a hard-coded ``https://{auth_host}``, cache per
connection and never share). It sends the headers umapi's own auth sends (``Content-type`` and
``Accept: application/json``, ``x-api-key``, ``Authorization``) plus ``x-gw-ims-org-id``, and
on a 401 refreshes once and resends once, like ``provider.requests_auth()``. Per object: each
Connection gets its own auth; no SDK code is patched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._sdk import Sdk

if TYPE_CHECKING:
    import requests

    from .._provider import TokenProvider

SDK = Sdk(distribution="umapi-client", extra="umapi", supported="3.x (tested: 3.0.1)")

#: What umapi-client's own ``AdobeAuthBase.__call__`` sets besides the token headers.
UMAPI_HEADERS = {"Content-type": "application/json", "Accept": "application/json"}


class UmapiAuth:
    """A ``requests`` auth for ``umapi_client.Connection(auth=...)`` over a provider."""

    def __init__(self, provider: TokenProvider) -> None:
        self.inner = provider.requests_auth()

    def __repr__(self) -> str:
        return f"UmapiAuth({self.inner!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = self.inner(request)
        request.headers.update(UMAPI_HEADERS)
        return request


def auth(provider: TokenProvider) -> UmapiAuth:
    """The ``auth=`` for ``umapi_client.Connection``: tokens from ``provider``."""
    module = SDK.load("umapi_client")
    SDK.hook(module, "Connection", ("org_id", "auth", "endpoint"))
    return UmapiAuth(provider)


def connection(provider: TokenProvider, org_id: str | None = None, **kwargs: Any) -> Any:
    """A ``umapi_client.Connection`` with ``auth(provider)``; ``org_id`` defaults to the
    provider's. ``kwargs`` go to ``Connection`` (``endpoint``, ``test_mode``, ...)."""
    module = SDK.load("umapi_client")
    connection_class = SDK.hook(module, "Connection", ("org_id", "auth", "endpoint"))
    if org_id is None:
        org_id = provider.headers().get("x-gw-ims-org-id", "")
    return connection_class(org_id, auth=auth(provider), **kwargs)
