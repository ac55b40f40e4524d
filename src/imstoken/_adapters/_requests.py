"""The ``requests`` adapter: ``session.auth = provider.requests_auth()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

try:
    import requests
    from requests.auth import AuthBase
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "provider.requests_auth() needs requests: pip install 'imstoken[requests]'"
    ) from exc

if TYPE_CHECKING:
    from .._token import Token


class TokenSource(Protocol):
    """What the adapter needs of a provider: public methods of ``TokenProvider`` only."""

    def get_token(self, *, force_refresh: bool = False) -> Token:
        """A valid token."""
        ...

    def headers_for(self, token: Token) -> dict[str, str]:
        """The request headers that carry ``token``."""
        ...

    def refresh_rejected(self, rejected: Token) -> Token:
        """A newer token than ``rejected``, after an API answered 401 to it."""
        ...


class RequestsAuth(AuthBase):
    """Adds the token headers; on a 401 refreshes once and resends once, like the httpx flow."""

    def __init__(self, provider: TokenSource) -> None:
        self.provider = provider

    def __repr__(self) -> str:
        return f"RequestsAuth({self.provider!r})"

    @staticmethod
    def _apply(request: requests.PreparedRequest, headers: dict[str, str]) -> None:
        for name, value in headers.items():
            if name == "Authorization" or name not in request.headers:
                request.headers[name] = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # The token the hook may report as rejected is the one in the headers.
        token = self.provider.get_token()
        self._apply(request, self.provider.headers_for(token))
        request.register_hook("response", self._make_hook(token))  # type: ignore[no-untyped-call]
        return request

    def _make_hook(self, sent_token: Token) -> Any:
        handled = False

        def handle_401(response: requests.Response, **kwargs: Any) -> requests.Response:
            nonlocal handled
            if response.status_code != 401 or handled:
                return response
            handled = True
            if response.request.body is not None and hasattr(response.request.body, "read"):
                return response  # a streamed body cannot be sent again
            token = self.provider.refresh_rejected(sent_token)
            response.content  # noqa: B018 - drain so the connection can be reused
            response.close()
            retry = response.request.copy()
            self._apply(retry, self.provider.headers_for(token))
            retried = response.connection.send(retry, **kwargs)
            retried.history.append(response)
            retried.request = retry
            return retried

        return handle_401
