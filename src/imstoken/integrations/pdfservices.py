"""pdfservices-sdk (PDF Services API) on a TokenProvider::

    from imstoken.integrations import pdfservices as ims_pdf
    pdf_services = PDFServices(credentials=ims_pdf.credentials(provider))

``credentials`` returns an ``adobe.pdfservices`` ``Credentials`` object for the provider's
credential (JWT or OAuth). The SDK's ``ServicePrincipalCredentials`` fetch from PDF Services'
own ``{uri}/token`` with a cache per ``PDFServices`` object, and its internal
``ServiceTokenCredentials`` keep one token for ever. Per object: two credentials objects for
two providers stay apart in one process. To get there, the SDK's internal
``AuthenticatorFactory.get_authenticator`` is wrapped once per process (the SDK picks its
authenticator by the credentials' class and has no public hook); the wrapper answers only for
credentials made here and hands every other credentials object to the SDK's own factory.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import TYPE_CHECKING, Any

from ._sdk import Sdk, patch_once

if TYPE_CHECKING:
    from .._provider import TokenProvider
    from .._token import Token

SDK = Sdk(distribution="pdfservices-sdk", extra="pdfservices", supported="4.x (tested: 4.3.0)")

_ROOT = "adobe.pdfservices.operation"


@functools.cache
def _classes() -> tuple[type[Any], type[Any]]:
    """The credentials and authenticator classes, built once over the SDK's base classes."""
    credentials_base = SDK.hook(SDK.load(f"{_ROOT}.auth.credentials"), "Credentials")
    authenticator_base = SDK.hook(SDK.load(f"{_ROOT}.internal.auth.authenticator"), "Authenticator")
    session_token = SDK.hook(
        SDK.load(f"{_ROOT}.internal.auth.session_token"),
        "SessionToken",
        ("access_token", "expired_in_ms"),
    )
    for method in ("session_token", "refresh_token", "get_api_key"):
        SDK.hook(authenticator_base, method)

    class ProviderCredentials(credentials_base):  # type: ignore[misc, valid-type]
        """PDF Services credentials whose tokens come from an imstoken provider."""

        def __init__(self, provider: TokenProvider) -> None:
            self.provider = provider

        def __repr__(self) -> str:
            return f"ProviderCredentials({self.provider!r})"

    class ProviderAuthenticator(authenticator_base):  # type: ignore[misc, valid-type]
        """The SDK's authenticator protocol over a provider: every call asks the provider."""

        def __init__(self, provider: TokenProvider) -> None:
            self.provider = provider
            self.lock = threading.Lock()
            self.sent: Token | None = None

        def wrap(self, token: Token) -> Any:
            with self.lock:
                self.sent = token
            remaining_ms = max(0.0, (token.expires_at - time.time()) * 1000)
            return session_token(token.access_token, remaining_ms)

        def session_token(self) -> Any:
            return self.wrap(self.provider.get_token())

        def refresh_token(self) -> Any:
            # The SDK calls this after a 401: one refresh for the whole process.
            with self.lock:
                sent = self.sent
            if sent is None:
                return self.wrap(self.provider.get_token(force_refresh=True))
            return self.wrap(self.provider.refresh_rejected(sent))

        def get_api_key(self) -> str:
            headers = self.provider.headers()
            return headers.get("x-api-key", "")

    return ProviderCredentials, ProviderAuthenticator


def install() -> None:
    """Check the SDK's authenticator hook and wrap it (once per process)."""
    credentials_class, authenticator_class = _classes()
    factory_module = SDK.load(f"{_ROOT}.internal.auth.auth_factory")
    factory = SDK.hook(factory_module, "AuthenticatorFactory")
    SDK.hook(factory, "get_authenticator", ("credential", "client_config"))

    def wrap(original: Any) -> Any:
        def get_authenticator(credential: Any, client_config: Any) -> Any:
            if isinstance(credential, credentials_class):
                return authenticator_class(credential.provider)
            return original(credential, client_config)

        return get_authenticator

    patch_once(factory, "get_authenticator", wrap)


def credentials(provider: TokenProvider) -> Any:
    """A PDF Services ``Credentials`` object whose tokens come from ``provider``."""
    install()
    credentials_class, _ = _classes()
    return credentials_class(provider)
