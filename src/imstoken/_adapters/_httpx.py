"""Putting a token's headers on httpx requests, through httpx's public API only, cheaply.

httpx's header setters re-encode the name and rescan the request's headers on every call
(about 1 µs each). Requests from one client look alike, so the merged header list is built
once per token and request shape, and each request gets a copy of it (httpx copies a
``Headers`` it is given in one step).
"""

from __future__ import annotations

import httpx

from .._policy import Entry
from ._origin import host_label, same_origin

# Lowercased names of every header a provider sets (the Adobe headers; others set fewer).
_OWN_HEADERS = frozenset({b"authorization", b"x-api-key", b"x-gw-ims-org-id"})
# Request shapes remembered per token: a client or two, a few URLs' worth.
_MAX_SHAPES = 32

RawHeaders = tuple[tuple[bytes, bytes], ...]


def _encoded(headers: dict[str, str]) -> RawHeaders | None:
    """``headers`` encoded as ASCII, or None if a value is not ASCII: then httpx's own setters
    decide how to encode it (or refuse it)."""
    if all(name.isascii() and value.isascii() for name, value in headers.items()):
        return tuple((name.encode(), value.encode()) for name, value in headers.items())
    return None


class HeaderStamp:
    """Sets ``Authorization`` and adds the API headers a request does not set itself."""

    def __init__(self) -> None:
        # Replaced whole when the entry changes, so threads never see a mix of two tokens.
        self._state: tuple[Entry | None, RawHeaders | None, dict[RawHeaders, httpx.Headers]] = (
            None,
            None,
            {},
        )

    def apply(self, request: httpx.Request, entry: Entry) -> None:
        """Put ``entry``'s headers on ``request``."""
        stamped, wire, merged = self._state
        if stamped is not entry:
            wire, merged = _encoded(entry.headers), {}
            self._state = (entry, wire, merged)
        if wire is not None:
            raw = tuple(request.headers.raw)
            ready = merged.get(raw)
            if ready is None and not any(name.lower() in _OWN_HEADERS for name, _ in raw):
                ready = httpx.Headers(raw + wire)
                if len(merged) < _MAX_SHAPES:
                    merged[raw] = ready
            if ready is not None:  # none of our names was set (the usual case)
                request.headers = httpx.Headers(ready)
                return
        headers = request.headers
        for name, value in entry.headers.items():
            if name == "Authorization" or name not in headers:
                headers[name] = value


def body_replayable(request: httpx.Request) -> bool:
    """Whether ``request``'s body can be sent a second time as it was the first.

    A body in memory (bytes, text, a form, JSON, or one read with ``request.read()``) can;
    so can a multipart form, which reads its files again from the start. A generator, an
    iterator or a file object given as ``content`` cannot: it was consumed by the first send.
    """
    stream = request.stream
    return isinstance(stream, httpx.ByteStream) or type(stream).__name__ == "MultipartStream"


def may_resend(request: httpx.Request, response: httpx.Response) -> bool:
    """Whether the auth flow may answer ``response`` (a 401) by sending ``request`` again:
    the 401 came from the request's own origin (not from where a redirect led) and the body
    can be replayed."""
    final = response.request
    return (final is request or same_origin(str(request.url), str(final.url))) and (
        body_replayable(request)
    )


def api_host(request: httpx.Request) -> str:
    """The API host a request went to, for log lines."""
    return host_label(str(request.url))
