"""The ``requests`` adapter: ``session.auth = provider.requests_auth()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import requests
    from requests.auth import AuthBase
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "provider.requests_auth() needs requests: pip install 'imstoken[requests]'"
    ) from exc

if TYPE_CHECKING:
    from .._provider import TokenProvider
    from .._token import Token


class RequestsAuth(AuthBase):
    """Adds the token headers; on a 401 refreshes once and resends once, like the httpx flow."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def __repr__(self) -> str:
        return f"RequestsAuth({self.provider!r})"

    def _apply(self, request: requests.PreparedRequest, headers: dict[str, str]) -> None:
        for name, value in headers.items():
            if name == "Authorization" or name not in request.headers:
                request.headers[name] = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # One lookup: the token the hook may report as rejected is the one in the headers.
        entry = self.provider._current_entry()
        self._apply(request, entry.headers)
        request.register_hook("response", self._make_hook(entry.token))  # type: ignore[no-untyped-call]
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
            entry = self.provider._entry_sync(False, sent_token)
            response.content  # noqa: B018 - drain so the connection can be reused
            response.close()
            retry = response.request.copy()
            self._apply(retry, entry.headers)
            retried = response.connection.send(retry, **kwargs)
            retried.history.append(response)
            retried.request = retry
            return retried

        return handle_401
