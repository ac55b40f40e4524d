"""Real loopback token servers for tests and demos: the public surface and the pytest fixtures.

``LocalIMS`` is a loopback Adobe IMS (``/ims/token/v3`` and ``/ims/exchange/jwt``) that checks
client secrets, scopes, JWT signatures and every Adobe claim; ``LocalOAuthServer`` is a loopback
OAuth 2.0 token endpoint for the standard profile. Both count requests and can be told to fail::

    with LocalIMS() as ims:
        cred = ims.add_credential()            # generates ids, secret and an RSA key pair
        provider = imstoken.from_config(cred.config("oauth"))
        provider.get_token()
        assert ims.count("oauth") == 1

With pytest, ``pytest_plugins = ["imstoken.testing"]`` gives the ``local_ims`` and
``local_oauth`` fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .. import _slots
from .._backends import unverified_claims as unverified_claims  # kept: importable from here
from ._ims import JWT_PATHS, OAUTH_PATHS, Credential, Fault, LocalIMS, RecordedRequest
from ._oauth import LocalOAuthServer, OAuthFault, OAuthRequest
from ._oauth_client import OAuthClient
from ._secrets import generate_private_key, new_private_pem, register_secret, registered_secrets
from ._server import FaultBase, LoopbackServer, sniff_content_type

__all__ = [
    "JWT_PATHS",
    "OAUTH_PATHS",
    "Credential",
    "Fault",
    "FaultBase",
    "LocalIMS",
    "LocalOAuthServer",
    "LoopbackServer",
    "OAuthClient",
    "OAuthFault",
    "OAuthRequest",
    "RecordedRequest",
    "clear_memory_cache",
    "decode_access_token",
    "generate_private_key",
    "local_ims",
    "local_oauth",
    "new_private_pem",
    "register_secret",
    "registered_secrets",
    "sniff_content_type",
]

#: The payload of an IMS access token, decoded without verifying it.
decode_access_token = unverified_claims


def clear_memory_cache() -> None:
    """Forget every token cached in this process (use between tests)."""
    _slots.clear()


_ServerT = TypeVar("_ServerT", LocalIMS, LocalOAuthServer)


def _serve_one_test(server_type: Callable[[], _ServerT]) -> Iterator[_ServerT]:
    """A running server, and a clean process-wide token cache, for one test."""
    clear_memory_cache()
    with server_type() as server:
        yield server
    clear_memory_cache()


def _local_oauth() -> Iterator[LocalOAuthServer]:
    """A running LocalOAuthServer, and a clean process-wide token cache, for one test."""
    yield from _serve_one_test(LocalOAuthServer)


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional for users of the servers
    local_oauth: Any = _local_oauth
else:
    local_oauth = pytest.fixture(name="local_oauth")(_local_oauth)

    @pytest.fixture
    def local_ims() -> Iterator[LocalIMS]:
        """A running LocalIMS, and a clean process-wide token cache, for one test."""
        yield from _serve_one_test(LocalIMS)
