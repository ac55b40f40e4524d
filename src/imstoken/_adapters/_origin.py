"""Origins (RFC 6454: scheme, host, port), so credentials never follow a request elsewhere."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

Origin = tuple[str, str, int | None]


def origin(url: str) -> Origin:
    """``(scheme, host, port)`` of ``url``, lowercased, the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a port: such a URL matches no other
        return scheme, url, -1
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def same_origin(first: str, second: str) -> bool:
    """Whether two URLs share scheme, host and port (``:443`` on https is the same as none)."""
    return origin(first) == origin(second)


def host_label(url: str) -> str:
    """``host[:port]`` of ``url`` for a log line: no user info, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host
