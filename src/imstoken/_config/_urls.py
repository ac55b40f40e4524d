"""URL and host-name rules, checked when the configuration is built, not at the first request.

The functions return what is wrong in words (never quoting the URL, which may hold a Redis
password) or None; ``_values`` turns that into a ``ConfigError`` naming the key.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from urllib.parse import SplitResult, urlsplit

_HOST_LABEL = re.compile(r"[a-z0-9_-]+")
_MAX_LABEL = 63
_MAX_HOST = 253
# Categories a configuration string may never hold: control and format characters, line and
# paragraph separators, lone surrogates. None of them belongs in an id, a URL or a header.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def has_control_character(text: str) -> bool:
    """True if ``text`` holds a control, format or line-separator character (CR, LF, NUL, ...)."""
    if text.isascii() and text.isprintable():
        return False
    return any(unicodedata.category(char) in _BAD_CATEGORIES for char in text)


def is_header_safe(text: str) -> bool:
    """True if ``text`` can be sent as an HTTP header value as it is: printable ASCII."""
    return text.isascii() and text.isprintable()


def split_url(text: str) -> tuple[SplitResult, int | None] | str:
    """The parts and port of a URL, or what is wrong with it."""
    if has_control_character(text):
        return "must not contain a line break or other control character"
    if any(char.isspace() for char in text):
        return "must not contain spaces"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return "is not a valid URL (a bad port number or unbalanced [ ])"
    if port == 0:
        return "has port 0, which cannot be connected to"
    if ":" in parts.netloc.rpartition("@")[2].rpartition("]")[2] and port is None:
        return "has an empty port after ':'"
    return parts, port


def host_problem(parts: SplitResult) -> str | None:
    """What is wrong with the host of split URL ``parts`` (as DNS, IDNA or an IP), or None."""
    host = parts.hostname or ""
    if not host:
        return "has no host name"
    netloc_host = parts.netloc.rpartition("@")[2]
    if netloc_host.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has an invalid IPv6 address in [ ]"
        return None
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "has an invalid IPv4 address"
        return None
    return _name_problem(host)


def _name_problem(host: str) -> str | None:
    if "%" in host:
        return "has a percent-encoded host name"
    name = host[:-1] if host.endswith(".") else host
    if not name.isascii():
        import idna  # httpx's own IDNA library; lazily, import time counts

        try:
            name = idna.encode(name).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return "has a host name that is not a valid internationalized domain name (IDNA)"
    if len(name) > _MAX_HOST:
        return f"has a host name longer than {_MAX_HOST} characters"
    for label in name.split("."):
        if not label:
            return "has an empty label in its host name (two dots in a row, or a leading dot)"
        if len(label) > _MAX_LABEL:
            return f"has a host-name label longer than {_MAX_LABEL} characters"
        if label.startswith("-") or label.endswith("-"):
            return "has a host-name label that starts or ends with '-'"
        if not _HOST_LABEL.fullmatch(label):
            return "has a character that is not allowed in a host name"
        if label.startswith("xn--"):
            import idna

            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError, ValueError):
                return "has a host-name label that is not valid IDNA (an 'xn--' label)"
    return None


@functools.lru_cache(maxsize=256)
def httpx_problem(text: str) -> str | None:
    """What httpx itself refuses in an http(s) URL (the parsing done at the first request).

    Cached: parsing costs ~25 µs and an app may build a provider per request. Only token and
    host URLs come here, which hold no secret (``check_url`` refuses credentials in them).
    """
    import httpx

    try:
        url = httpx.URL(text)
        url.raw_host  # noqa: B018 - the IDNA-encoded host, as the connection uses it
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return "is not a valid URL"
    return None


def redis_url_problem(text: str) -> str | None:
    """What is wrong with a ``redis://``, ``rediss://`` or ``unix://`` URL, or None.

    Never quotes the URL: it may carry a password.
    """
    split = split_url(text)
    if isinstance(split, str):
        return split
    parts, _port = split
    scheme = parts.scheme.lower()
    if scheme == "unix":
        if not parts.path:
            return "must name a socket path (unix:///path/to/redis.sock)"
    elif parts.hostname:
        problem = host_problem(parts)
        if problem:
            return problem
    if scheme != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        return "must name a database number as its path (redis://host:6379/0)"
    try:
        from redis.connection import parse_url
    except ImportError:  # the cache says it needs the redis package when it is opened
        return None
    try:
        parse_url(text)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        return "is not a valid Redis URL"
    return None
