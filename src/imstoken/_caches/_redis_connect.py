"""The redis-py client that a ``cache`` URL names: one server, TLS, Redis Cluster or Sentinel.

URL forms (``rediss`` instead of ``redis`` means TLS, for every node):

- ``redis://[[user]:password@]host[:port][/db]`` and ``unix:///path/redis.sock?db=N``: one
  server (or a proxy), read by redis-py's own ``Redis.from_url``; its query options apply
  (``rediss://…?ssl_ca_certs=/etc/ssl/ca.pem`` for a private CA).
- ``redis+cluster://[[user]:password@]host:port[,host:port…][/0]``: Redis Cluster, the listed
  nodes used to discover the rest.
- ``redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]``: the master that
  those Sentinels name for ``service``; ``sentinel_username`` / ``sentinel_password`` query
  options authenticate to the Sentinels themselves (the URL's password is the data nodes').

Every option is checked here, when the provider is built, so that a typo is a ``ConfigError``
and never a ``TypeError`` on the first token request. Errors name the option, never its value.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .._errors import ConfigError

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SINGLE_SCHEMES = ("redis", "rediss", "unix")
SCHEMES = SINGLE_SCHEMES + CLUSTER_SCHEMES + SENTINEL_SCHEMES  # every form a cache URL takes

# Options of the cluster and sentinel forms (the single-server form takes redis-py's own).
_TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_MULTI_OPTIONS = (*_TLS_FILES, "sentinel_username", "sentinel_password")


def _error(message: str) -> ConfigError:
    return ConfigError(message, key="cache", env_var="IMS_CACHE")


def redact_url(url: str) -> str:
    """The URL without user, password or query string (which may hold a password)."""
    try:
        parts = urlsplit(url)
        hosts = [_redacted_host(item) for item in parts.netloc.rpartition("@")[2].split(",")]
    except ValueError:
        return "<invalid Redis URL>"
    netloc = ("***@" if "@" in parts.netloc else "") + ",".join(hosts)
    return f"{parts.scheme}://{netloc}{parts.path}"


def _redacted_host(item: str) -> str:
    parts = urlsplit("//" + item)
    host = parts.hostname or ""
    port = parts.port
    if ":" in host:
        host = f"[{host}]"
    return host + (f":{port}" if port else "")


def url_secrets(url: str) -> list[str]:
    """Every credential-like piece of ``url``, to scrub from error messages, longest first."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        for value in userinfo.split(":", 1) if userinfo else ():
            if value:
                found += [value, unquote(value)]
        for name, values in parse_qs(parts.query).items():
            if "password" in name.lower() or "username" in name.lower():
                found += [v for v in values if v]
    except ValueError:
        pass
    # Longest first, so a password that contains the user name is scrubbed whole.
    return sorted(set(found), key=len, reverse=True)


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A parsed cluster or sentinel URL."""

    tls: bool
    nodes: tuple[tuple[str, int], ...]
    service: str | None = None  # the Sentinel's name of the master
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict, repr=False)


def parse_url(url: str) -> RedisTarget:
    """Check a ``redis+cluster://`` or ``redis+sentinel://`` URL; ``ConfigError`` if it is wrong."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        nodes = tuple(_node(item) for item in hostlist.split(","))
    except ValueError:
        raise _error("is not a valid Redis URL (expected host:port,host:port)") from None
    username, _, password = userinfo.partition(":")
    segments = [unquote(s) for s in parts.path.split("/")[1:] if s]
    sentinel = scheme in SENTINEL_SCHEMES
    if sentinel:
        if not segments:
            raise _error("a redis+sentinel:// URL needs the master's name: …/mymaster/0")
        service, segments = segments[0], segments[1:]
    else:
        service = None
    if len(segments) > 1 or (segments and not segments[0].isdigit()):
        raise _error("the database in a Redis URL path must be a number")
    db = int(segments[0]) if segments else 0
    if db and not sentinel:
        raise _error("Redis Cluster has database 0 only")
    options: dict[str, str] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        allowed = _MULTI_OPTIONS if sentinel else _TLS_FILES
        if name not in allowed:
            raise _error(f"option {name!r} is not known here (known: {', '.join(allowed)})")
        options[name] = values[-1]
    target = RedisTarget(
        tls=scheme.startswith("rediss"),
        nodes=nodes,
        service=service,
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        options=options,
    )
    check_tls_files(target.tls, options)
    return target


def _node(item: str) -> tuple[str, int]:
    parts = urlsplit("//" + item)
    if not parts.hostname or parts.port is None:
        raise ValueError("host:port expected")
    return parts.hostname, parts.port


def check_tls_files(tls: bool, options: dict[str, str]) -> None:
    """TLS file options need a TLS URL and a readable file."""
    for name in _TLS_FILES:
        if name not in options:
            continue
        if not tls:
            raise _error(f"option {name!r} needs a TLS URL (rediss://)")
        if not os.access(options[name], os.R_OK):
            raise _error(f"the file named by option {name!r} cannot be read")


@dataclass(frozen=True, slots=True)
class Connection:
    """A redis-py client (or a stand-in with its methods) and the errors that mean an outage."""

    client: Any
    errors: tuple[type[BaseException], ...]


def connect(url: str, *, socket_timeout: float, connect_timeout: float) -> Connection:
    """The client for ``url``; nothing is sent yet. ``ConfigError`` for a wrong URL."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisClusterException
        from redis.retry import Retry
    except ImportError:
        raise _error(
            "a Redis cache needs the redis package: pip install 'imstoken[redis]'"
        ) from None
    errors = (redis.exceptions.RedisError, RedisClusterException, OSError)
    common: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        # One immediate retry for a pooled connection that went stale (Redis restarted or
        # failed over); redis-py's default of many retries with backoff would turn an outage
        # into seconds of delay on every token request.
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        **_without_client_setinfo(redis),
    }
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        target = parse_url(url)
        return Connection(LazyClient(lambda: _cluster(target, common)), errors)
    if scheme in SENTINEL_SCHEMES:
        return Connection(_sentinel_master(parse_url(url), common), errors)
    return Connection(_single(url, common), errors)


def _without_client_setinfo(redis: Any) -> dict[str, Any]:
    """Options that skip ``CLIENT SETINFO`` on connect: two round trips each new connection
    would spend from the caller's deadline (a slow Redis pays them in full)."""
    import importlib.util

    if importlib.util.find_spec("redis.driver_info") is not None:
        return {"driver_info": None}
    version = tuple(int(part) for part in redis.__version__.split(".")[:1] if part.isdigit())
    return {"lib_name": None, "lib_version": None} if version >= (5,) else {}


def _single(url: str, common: dict[str, Any]) -> Any:
    import redis

    query = parse_qs(urlsplit(url).query)
    check_tls_files(url.lower().startswith("rediss:"), {k: v[-1] for k, v in query.items()})
    try:
        client = redis.Redis.from_url(url, **common)
        pool = client.connection_pool
        # Build (not open) one connection, so an option redis-py does not know fails now.
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as error:
        unknown = re.search(r"argument '(\w+)'", str(error))
        name = f"option {unknown.group(1)!r}" if unknown else "an option"
        raise _error(f"{name} of the Redis URL is not known to redis-py") from None
    except ValueError:
        # ``from None``: the parser's message may quote the URL, password included.
        raise _error("is not a valid Redis URL") from None
    return client


def _tls(target: RedisTarget) -> dict[str, Any]:
    if not target.tls:
        return {}
    return {"ssl": True, **{k: v for k, v in target.options.items() if k in _TLS_FILES}}


def _cluster(target: RedisTarget, common: dict[str, Any]) -> Any:
    from redis import cluster

    node: Any = cluster.ClusterNode  # redis-py leaves it untyped
    return cluster.RedisCluster(
        startup_nodes=[node(host, port) for host, port in target.nodes],
        username=target.username,
        password=target.password,
        **_tls(target),
        **common,
    )


def _sentinel_master(target: RedisTarget, common: dict[str, Any]) -> Any:
    from redis import sentinel

    sentinel_class: Any = sentinel.Sentinel  # redis-py leaves it untyped
    sentinel_auth = {
        "username": target.options.get("sentinel_username") or None,
        "password": target.options.get("sentinel_password") or None,
    }
    sentinels = sentinel_class(
        list(target.nodes),
        sentinel_kwargs={**common, **_tls(target), **sentinel_auth},
    )
    assert target.service is not None  # parse_url requires it for a sentinel URL
    return sentinels.master_for(
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        **_tls(target),
        **common,
    )


class LazyClient:
    """A client built on first use: an unreachable cluster is an outage, not a build error.

    redis-py's ``RedisCluster`` asks its nodes for the slot map when it is made; here that
    happens at the first command, inside the cache's error handling, and is tried again at the
    next command after a failure.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The real client, built now if needed (raises what the build raises)."""
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client(), name)

    def register_script(self, script: str) -> Callable[..., Any]:
        """A Lua script registered with the real client when it is first run."""
        registered: list[Any] = []

        def run(keys: list[str], args: list[str]) -> Any:
            if not registered:
                registered.append(self.client().register_script(script))
            return registered[0](keys=keys, args=args)

        return run

    def close(self) -> None:
        """Close the real client if it was ever built."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
