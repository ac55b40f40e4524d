"""The Redis cache against a real redis-server: TTLs, owner-only locks, and outages."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import imstoken
from imstoken import _slots
from imstoken._backends._protocol import secret_material
from imstoken._caches._redis import RedisCache, RedisLock, redact_url
from imstoken._caches._seal import Sealer
from imstoken._caches._sealed import SealedCache
from imstoken._token import Token
from imstoken.testing import Credential, LocalIMS
from tests.redis_server import RedisServer, make_certificates

redis = pytest.importorskip("redis")

if TYPE_CHECKING:
    from redis import Redis

pytestmark = pytest.mark.redis

KEY = "oauth:0123456789abcdef0123456789abcdef01234567"


def make_token(access_token: str = "tok-1", lifetime: float = 3600.0) -> Token:
    return Token(
        access_token=access_token,
        token_type="bearer",
        expires_at=time.time() + lifetime,
        credential="oauth",
        scope=None,
    )


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


SECRET = "a-client-secret"


def sealed(store: RedisCache, secret: str = SECRET) -> SealedCache:
    """The Redis cache as a provider holds it: records sealed with the credential's secret."""
    return SealedCache(store, lambda: secret_material(secret))


@pytest.fixture
def cache(redis_url: str) -> Iterator[SealedCache]:
    shared = sealed(RedisCache(redis_url))
    yield shared
    shared.close()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "imstoken" and r.levelno == logging.WARNING]


# ---------------------------------------------------------------- storage


def test_round_trip(cache: SealedCache) -> None:
    token = make_token()
    obtained_at = time.time() - 10
    cache.store(KEY, token, obtained_at)
    assert cache.load(KEY) == (token, obtained_at)
    assert cache.load("oauth:other") is None


def test_key_ttl_is_the_token_remaining_lifetime(cache: SealedCache, client: Redis) -> None:
    cache.store(KEY, make_token(lifetime=600), time.time())
    ttl_ms = client.pttl("imstoken:token:{" + KEY + "}")
    assert 598_000 < ttl_ms <= 600_000


def test_expired_token_is_not_stored(cache: SealedCache, client: Redis) -> None:
    cache.store(KEY, make_token(lifetime=-1), time.time())
    assert client.keys("*") == []


def test_key_names_hold_only_prefix_and_cache_key(redis_url: str, client: Redis) -> None:
    shared = sealed(RedisCache(redis_url, prefix="myapp"))
    shared.store(KEY, make_token(), time.time())
    lock = shared.acquire(KEY, ttl=5, wait=0)
    assert sorted(client.keys("*")) == [
        f"myapp:lock:{{{KEY}}}".encode(),
        f"myapp:token:{{{KEY}}}".encode(),
    ]
    assert lock is not None
    shared.release(lock)
    shared.close()


def test_entry_under_another_key_is_never_returned(cache: SealedCache, client: Redis) -> None:
    cache.store(KEY, make_token(), time.time())
    stored = client.get("imstoken:token:{" + KEY + "}")
    assert stored is not None
    client.set("imstoken:token:{oauth:other}", stored)
    assert cache.load("oauth:other") is None


def test_foreign_value_is_ignored(cache: SealedCache, client: Redis) -> None:
    client.set("imstoken:token:{" + KEY + "}", b'{"access_token": "x"}')
    assert cache.load(KEY) is None


def test_delete(cache: SealedCache) -> None:
    cache.store(KEY, make_token(), time.time())
    cache.delete(KEY)
    assert cache.load(KEY) is None


# ---------------------------------------------------------------- the lock


def test_lock_has_an_expiry_and_excludes_others(cache: SealedCache, client: Redis) -> None:
    held = cache.acquire(KEY, ttl=30, wait=0)
    assert isinstance(held, RedisLock)
    assert 29_000 < client.pttl("imstoken:lock:{" + KEY + "}") <= 30_000
    assert cache.acquire(KEY, ttl=30, wait=0) is None
    cache.release(held)
    assert client.exists("imstoken:lock:{" + KEY + "}") == 0


def test_only_the_owner_releases_the_lock(redis_url: str, client: Redis) -> None:
    first, second = RedisCache(redis_url), RedisCache(redis_url)
    stale = first.acquire(KEY, ttl=0.05, wait=0)
    assert stale is not None
    client.pexpire("imstoken:lock:{" + KEY + "}", 1)  # the first holder's lock runs out
    current = second.acquire(KEY, ttl=30, wait=2)
    assert current is not None
    first.release(stale)  # late release by the previous owner: must not drop the new lock
    assert client.get("imstoken:lock:{" + KEY + "}") == current.owner.encode()
    second.release(current)
    assert client.exists("imstoken:lock:{" + KEY + "}") == 0


def test_dead_holder_lock_is_taken_over_after_its_expiry(redis_url: str) -> None:
    dead, alive = RedisCache(redis_url), RedisCache(redis_url)
    assert dead.acquire(KEY, ttl=0.3, wait=0) is not None  # never released
    begin = time.monotonic()
    taken = alive.acquire(KEY, ttl=5, wait=3)
    waited = time.monotonic() - begin
    assert taken is not None
    assert 0.2 <= waited < 1.0  # after the expiry, not at the end of the wait


def test_wait_gives_up_on_a_live_holder(cache: SealedCache) -> None:
    assert cache.acquire(KEY, ttl=30, wait=0) is not None
    begin = time.monotonic()
    assert cache.acquire(KEY, ttl=30, wait=0.1) is None
    assert 0.1 <= time.monotonic() - begin < 1.0


# ---------------------------------------------------------------- through the provider


def test_providers_with_separate_memory_share_one_token(
    ims: LocalIMS, cred: Credential, redis_url: str
) -> None:
    config = cred.config("oauth", cache=redis_url, cache_prefix="svc")
    with imstoken.from_config(config) as provider:
        first = provider.get_token()
    _slots.clear()  # another process, or another host
    with imstoken.from_config(config) as provider:
        assert provider.get_token() == first
    assert ims.count() == 1


def test_no_secret_in_key_names(
    ims: LocalIMS, cred: Credential, redis_url: str, client: Redis
) -> None:
    config = cred.config("jwt", cache=redis_url)
    with imstoken.from_config(config) as provider:
        token = provider.get_token()
    names = " ".join(str(name) for name in client.keys("*"))
    for secret in (cred.client_secret, token.access_token, "PRIVATE KEY"):
        assert secret not in names


def test_invalidate_deletes_the_shared_token(
    ims: LocalIMS, cred: Credential, redis_url: str, client: Redis
) -> None:
    with imstoken.from_config(cred.config("oauth", cache=redis_url)) as provider:
        provider.get_token()
        assert client.keys("imstoken:token:*")
        provider.invalidate()
        assert client.keys("imstoken:token:*") == []


def test_async_provider_uses_redis(ims: LocalIMS, cred: Credential, redis_url: str) -> None:
    import asyncio

    config = cred.config("oauth", cache=redis_url)

    async def fetch() -> Token:
        async with imstoken.from_config(config) as provider:
            return await provider.aget_token()

    first = asyncio.run(fetch())
    _slots.clear()
    assert asyncio.run(fetch()) == first
    assert ims.count() == 1


# ---------------------------------------------------------------- outages


def test_redis_down_provider_still_gets_tokens_warns_once_and_recovers(
    ims: LocalIMS,
    cred: Credential,
    redis_factory: Callable[..., RedisServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="imstoken")
    server = redis_factory()
    port = server.port
    shared = RedisCache(server.url, retry_interval=0)  # retry at once: no waiting in the test
    provider = imstoken.from_config(cred.config("oauth"), shared_cache=shared)
    provider.get_token()  # connects while Redis is up
    server.stop()

    for _ in range(3):
        provider.get_token(force_refresh=True)
    assert ims.count() == 4
    warnings = warnings_of(caplog)
    assert len(warnings) == 1
    assert "unavailable" in warnings[0].getMessage()

    server.start(port=port)  # back, empty
    token = provider.get_token(force_refresh=True)
    loaded = sealed(shared, cred.client_secret).load(provider.cache_key)
    assert loaded is not None and loaded[0] == token
    recovered = [r for r in caplog.records if "available again" in r.getMessage()]
    assert len(recovered) == 1
    assert len(warnings_of(caplog)) == 1
    provider.close()


def test_outage_is_not_retried_before_the_retry_interval(
    redis_factory: Callable[..., RedisServer],
) -> None:
    server = redis_factory()
    url = server.url
    server.stop()
    now = [0.0]
    shared = RedisCache(url, retry_interval=5, monotonic=lambda: now[0])
    assert shared.read(KEY) is None
    server.start(port=int(url.rsplit(":", 1)[1].split("/")[0]))
    assert shared.acquire(KEY, ttl=5, wait=1) is None  # still inside the interval: skipped
    now[0] = 5.0
    held = shared.acquire(KEY, ttl=5, wait=0)
    assert held is not None
    shared.release(held)
    shared.close()


def test_wrong_password_degrades_without_leaking_it(
    ims: LocalIMS,
    cred: Credential,
    redis_factory: Callable[..., RedisServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = redis_factory(password="right-horse-battery")
    url = f"redis://:wrong-staple-secret@127.0.0.1:{server.port}/0"
    with imstoken.from_config(cred.config("oauth", cache=url)) as provider:
        provider.get_token()
        provider.get_token(force_refresh=True)
    assert ims.count() == 2
    warnings = warnings_of(caplog)
    assert len(warnings) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "wrong-staple-secret" not in logged
    assert f"redis://***@127.0.0.1:{server.port}/0" in logged


def test_password_in_url_works(
    ims: LocalIMS, cred: Credential, redis_factory: Callable[..., RedisServer]
) -> None:
    server = redis_factory(password="p@ss:word/with?odd#chars")
    url = f"redis://:{quote('p@ss:word/with?odd#chars')}@127.0.0.1:{server.port}/0"
    shared = sealed(RedisCache(url))
    shared.store(KEY, make_token(), time.time())
    assert shared.load(KEY) is not None
    shared.close()


def quote(value: str) -> str:
    from urllib.parse import quote as url_quote

    return url_quote(value, safe="")


def test_slow_redis_costs_one_timeout_and_one_warning(
    ims: LocalIMS, cred: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    # A listener that accepts connections and never answers: a hung or overloaded Redis.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    shared = RedisCache(f"redis://127.0.0.1:{port}/0", socket_timeout=0.2, connect_timeout=0.2)
    try:
        with imstoken.from_config(cred.config("oauth"), shared_cache=shared) as provider:
            begin = time.monotonic()
            provider.get_token()
            provider.get_token(force_refresh=True)
            elapsed = time.monotonic() - begin
    finally:
        listener.close()
        for connection in accepted:
            connection.close()
    assert ims.count() == 2
    assert elapsed < 1.5  # one socket timeout (+ one retry of it at most), then skipped
    assert len(warnings_of(caplog)) == 1


def test_tls_url_works(
    tmp_path: Path, redis_factory: Callable[..., RedisServer], ims: LocalIMS, cred: Credential
) -> None:
    server = redis_factory(tls=make_certificates(tmp_path), password="tls-pass")
    assert server.url.startswith("rediss://")
    config = cred.config("oauth", cache=server.url)
    with imstoken.from_config(config) as provider:
        first = provider.get_token()
    _slots.clear()
    with imstoken.from_config(config) as provider:
        assert provider.get_token() == first
    assert ims.count() == 1


# ---------------------------------------------------------------- configuration


def test_missing_redis_package_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, cred: Credential
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_config(cred.config("oauth", cache="redis://127.0.0.1:1/0"))
    assert caught.value.key == "cache"
    assert "imstoken[redis]" in str(caught.value)


def test_bad_url_is_a_config_error_without_the_password(cred: Credential) -> None:
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_config(cred.config("oauth", cache="redis://:hunter2@127.0.0.1:port/0"))
    assert caught.value.key == "cache"
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@redis.internal:6380/2", "redis://***@redis.internal:6380/2"),
        ("rediss://user:pw@[::1]:6379/0?ssl_ca_certs=/ca", "rediss://***@[::1]:6379/0"),
        ("unix:///run/redis.sock?db=1&password=pw", "unix:///run/redis.sock"),
    ],
)
def test_redacted_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_repr_has_no_password() -> None:
    shared = RedisCache("redis://:hunter2@127.0.0.1:6379/0", prefix="app")
    assert "hunter2" not in repr(shared)
    shared.close()


def test_record_is_sealed_json_with_the_key(cache: SealedCache, client: Redis) -> None:
    cache.store(KEY, make_token(), time.time())
    stored = client.get("imstoken:token:{" + KEY + "}")
    assert stored is not None and stored.startswith(b"ims1.") and b"tok-1" not in stored
    opened = Sealer(lambda: secret_material(SECRET)).open(KEY, stored)
    assert opened is not None and json.loads(opened)["key"] == KEY
