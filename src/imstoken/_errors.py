"""The exception hierarchy: everything imstoken raises is an ``ImsTokenError``."""

from __future__ import annotations


class ImsTokenError(Exception):
    """Base class of every error imstoken raises."""


class ConfigError(ImsTokenError, ValueError):
    """Bad or incomplete configuration.

    ``key`` names the configuration key, ``env_var`` the matching environment variable
    (when there is one). The message never includes the value.
    """

    def __init__(self, message: str, *, key: str | None = None, env_var: str | None = None):
        self.key = key
        self.env_var = env_var
        if key is not None:
            where = f"{key!r}" + (f" (env {env_var})" if env_var else "")
            message = f"{where}: {message}"
        super().__init__(message)


class TokenRequestError(ImsTokenError):
    """The token endpoint answered with an error or nonsense, or could not be reached.

    ``status_code`` is ``None`` for network errors. ``debug_id`` is Adobe's ``x-debug-id``
    response header, which Adobe support asks for. ``retryable`` says whether trying again
    later may help (network errors, timeouts, 408, 429, 5xx).
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
        parts = [message]
        if status_code is not None:
            parts.append(f"status={status_code}")
        if error:
            parts.append(f"error={error}")
        if error_description:
            parts.append(f"description={error_description!r}")
        if debug_id:
            parts.append(f"x-debug-id={debug_id}")
        super().__init__("; ".join(parts))

    def __repr__(self) -> str:
        return (
            f"TokenRequestError(status_code={self.status_code!r}, error={self.error!r}, "
            f"debug_id={self.debug_id!r}, retryable={self.retryable!r})"
        )
