"""The exception hierarchy: everything imstoken raises is an ``ImsTokenError``.

::

    ImsTokenError
    ├── ConfigError                  bad or incomplete configuration (also a ValueError)
    └── TokenRequestError            no token (status_code, error, debug_id, retryable, ...)
        ├── TokenEndpointUnreachable no answer: DNS, connection refused or reset, TLS (retryable)
        ├── TokenRequestTimedOut     no complete answer within timeout or deadline (retryable)
        ├── TokenRequestRefused      an HTTP error status (4xx with an OAuth error; 408/429/5xx)
        └── InvalidTokenResponse     a 2xx whose body is not a valid token response

Every error has ``message``: the sentence alone, without the fields that ``str()`` appends.
"""

from __future__ import annotations


class ImsTokenError(Exception):
    """Base class of every error imstoken raises. ``message`` is the sentence alone."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ConfigError(ImsTokenError, ValueError):
    """Bad or incomplete configuration.

    ``key`` names the configuration key; ``env_var`` its environment variable when the
    configuration came from the environment; ``source`` the file (and table) it came from
    when it came from a file. ``reason`` is what is wrong, without the key. The message
    never includes the value.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        env_var: str | None = None,
        source: str | None = None,
    ):
        self.key = key
        self.env_var = env_var
        self.source = source
        self.reason = message
        if key is not None:
            where = f" ({source})" if source else (f" (env {env_var})" if env_var else "")
            message = f"{key!r}{where}: {message}"
        super().__init__(message)


class TokenRequestError(ImsTokenError):
    """The token endpoint answered with an error or nonsense, or could not be reached.

    ``status_code`` is ``None`` when no HTTP answer came. ``error`` and ``error_description``
    are the endpoint's OAuth error fields (``None`` when it sent none). ``debug_id`` is
    Adobe's ``x-debug-id`` response header, which Adobe support asks for. ``retryable`` says
    whether trying again later may help (network errors, timeouts, 408, 429, 5xx);
    ``retry_after`` is the endpoint's ``Retry-After`` in seconds, if it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        debug_id: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.error = error
        self.error_description = error_description
        self.debug_id = debug_id
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.error:
            parts.append(f"error={self.error}")
        if self.error_description:
            parts.append(f"description={self.error_description!r}")
        if self.debug_id:
            parts.append(f"x-debug-id={self.debug_id}")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, error={self.error!r}, "
            f"debug_id={self.debug_id!r}, retryable={self.retryable!r})"
        )


class TokenEndpointUnreachable(TokenRequestError):
    """No answer from the token endpoint: name resolution, connection or TLS failed."""


class TokenRequestTimedOut(TokenRequestError):
    """No complete answer in time: one attempt's ``timeout``, or the fetch's ``deadline``."""


class TokenRequestRefused(TokenRequestError):
    """The endpoint answered with an HTTP error status (anything but 2xx).

    A 4xx with an OAuth ``error`` (``invalid_client``, ``invalid_scope``, ...) is a credential
    problem that retrying does not fix; ``error`` is None when the answer had no OAuth error
    body (a proxy's 403 page, a redirect). 408, 429 and 5xx are ``retryable``.
    """


class InvalidTokenResponse(TokenRequestError):
    """A 2xx answer that is not a valid token response (an HTML page from a proxy, say)."""
