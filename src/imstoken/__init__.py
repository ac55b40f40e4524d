"""imstoken: Adobe IMS (and any OAuth 2.0 server) access tokens behind one TokenProvider.

The credential (Service Account JWT or OAuth Server-to-Server) is chosen by configuration;
tokens are cached, shared and refreshed ahead of expiry::

    provider = imstoken.from_file("ims.toml")
    httpx.Client(auth=provider).get("https://analytics.adobe.io/...")
"""

from ._errors import (
    ConfigError,
    ImsTokenError,
    InvalidTokenResponse,
    TokenEndpointUnreachable,
    TokenRequestError,
    TokenRequestRefused,
    TokenRequestTimedOut,
)
from ._factory import ProviderOptions, from_config, from_env, from_file
from ._policy import RefreshPolicy
from ._provider import TokenProvider
from ._retry import Backoff
from ._secret import Secret
from ._token import Token

__version__ = "0.1.0"

__all__ = [
    "Backoff",
    "ConfigError",
    "ImsTokenError",
    "InvalidTokenResponse",
    "ProviderOptions",
    "RefreshPolicy",
    "Secret",
    "Token",
    "TokenEndpointUnreachable",
    "TokenProvider",
    "TokenRequestError",
    "TokenRequestRefused",
    "TokenRequestTimedOut",
    "__version__",
    "from_config",
    "from_env",
    "from_file",
]
