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

from ._origin import host_label, same_origin

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

    def refresh_rejected(self, rejected: Token, *, host: str | None = None) -> Token:
        """A newer token than ``rejected`` after an API answered 401 to it, or ``rejected``
        itself when it must not be replaced now."""
        ...


def _body_position(body: object) -> int | None:
    """Where a file-like body starts, so it can be sent again; None if it cannot be."""
    tell = getattr(body, "tell", None)
    if tell is None or not hasattr(body, "seek"):
        return None
    try:
        position = tell()
    except (OSError, ValueError):
        return None
    return position if isinstance(position, int) else None


def _rewind(body: object, position: int | None) -> bool:
    """Put a body back where it started; False if it cannot be sent again."""
    if body is None or isinstance(body, bytes | str):
        return True
    if position is None:  # a generator or iterator: consumed by the first send
        return False
    try:
        body.seek(position)  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return False
    return True


class RequestsAuth(AuthBase):
    """Adds the token headers; on a 401 refreshes once and resends once, like the httpx flow.

    The 401 goes back unchanged when it came from another origin than the request's (after a
    redirect), when the body cannot be sent again (a generator, or a file that cannot seek),
    or when the token was replaced because of a 401 less than ``reject_refresh_interval`` ago.
    """

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
        hook = self._make_hook(token, request.url or "", _body_position(request.body))
        request.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return request

    def _make_hook(self, sent_token: Token, url: str, body_at: int | None) -> Any:
        handled = False

        def handle_401(response: requests.Response, **kwargs: Any) -> requests.Response:
            nonlocal handled
            if response.status_code != 401 or handled:
                return response
            handled = True
            # Redirects copy the hook: a 401 from another origin gets no token of ours.
            if not same_origin(url, response.request.url or ""):
                return response
            if not _rewind(response.request.body, body_at):
                return response
            token = self.provider.refresh_rejected(sent_token, host=host_label(url))
            if token.access_token == sent_token.access_token:
                return response  # not replaced (too soon after the last 401): hand it back
            response.content  # noqa: B018 - drain so the connection can be reused
            response.close()
            retry = response.request.copy()
            self._apply(retry, self.provider.headers_for(token))
            retried = response.connection.send(retry, **kwargs)
            retried.history.append(response)
            retried.request = retry
            return retried

        return handle_401
