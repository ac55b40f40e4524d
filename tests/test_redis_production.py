"""Redis as production runs it: TLS with a private CA, Redis Cluster, Sentinel failover.

Every test here talks to real ``redis-server`` processes on loopback (``tests/redis_server.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import imstoken
from imstoken import _slots
from imstoken._backends._protocol import secret_material
from imstoken._caches._redis import RedisCache, RedisLock
from imstoken._caches._redis_connect import redact_url, url_secrets
from imstoken._caches._sealed import SealedCache
from imstoken._token import Token
from imstoken.testing import Credential, LocalIMS
from tests.redis_server import (
    RedisClusterSet,
    RedisSentinelSet,
    RedisServer,
    free_port,
    make_certificates,
)

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.redis

KEY = "oauth:0123456789abcdef0123456789abcdef01234567"


def sealed(store: RedisCache) -> SealedCache:
    """The Redis cache as a provider holds it: records sealed with a credential's secret."""
    return SealedCache(store, lambda: secret_material("cluster-secret"))


def make_token(access_token: str = "tok-1", lifetime: float = 3600.0) -> Token:
    return Token(
        access_token=access_token,
        token_type="bearer",
        expires_at=time.time() + lifetime,
        credential="oauth",
        scope=None,
    )


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "imstoken" and r.levelno == logging.WARNING]


def config_error(cred: Credential, cache: str) -> imstoken.ConfigError:
    with pytest.raises(imstoken.ConfigError) as caught:
        imstoken.from_config(cred.config("oauth", cache=cache))
    assert caught.value.key == "cache"
    return caught.value


# ---------------------------------------------------------------- rediss:// with a private CA


def test_rediss_with_a_private_ca_file_shares_one_token(
    tmp_path: Path, redis_factory: Callable[..., RedisServer], ims: LocalIMS, cred: Credential
) -> None:
    certificate, key, ca = make_certificates(tmp_path)
    server = redis_factory(tls=(certificate, key, ca), password="tls-pass")
    config = cred.config("oauth", cache=server.url)
    assert "?ssl_ca_certs=" in server.url
    with imstoken.from_config(config) as provider:
        first = provider.get_token()
    _slots.clear()
    with imstoken.from_config(config) as provider:
        assert provider.get_token() == first
    assert ims.count() == 1


def test_rediss_server_signed_by_another_ca_is_not_trusted(
    tmp_path: Path,
    redis_factory: Callable[..., RedisServer],
    ims: LocalIMS,
    cred: Credential,
    caplog: pytest.LogCaptureFixture,
) -> None:
    certificate, key, _ca = make_certificates(_mkdir(tmp_path / "real"))
    *_, other_ca = make_certificates(_mkdir(tmp_path / "other"))
    server = redis_factory(tls=(certificate, key, other_ca))
    url = f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={other_ca}"
    caplog.set_level(logging.WARNING, "imstoken")
    with imstoken.from_config(cred.config("oauth", cache=url)) as provider:
        assert provider.get_token().access_token  # served from the endpoint, not the cache
    warnings = warnings_of(caplog)
    assert len(warnings) == 1
    assert "certificate" in warnings[0].getMessage().lower()


def test_missing_ca_file_is_a_config_error_naming_the_option(
    tmp_path: Path, cred: Credential
) -> None:
    error = config_error(cred, f"rediss://127.0.0.1:6380/0?ssl_ca_certs={tmp_path}/nope.pem")
    assert "ssl_ca_certs" in str(error)
    assert "nope.pem" not in str(error)


def test_ca_file_on_a_plain_url_is_a_config_error(tmp_path: Path, cred: Credential) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used")
    error = config_error(cred, f"redis://127.0.0.1:6379/0?ssl_ca_certs={ca}")
    assert "rediss://" in str(error)


def test_unknown_url_option_is_a_config_error_not_a_type_error(cred: Credential) -> None:
    error = config_error(cred, "redis://:hunter2@127.0.0.1:6379/0?ssl_ca_cert=x")
    assert "'ssl_ca_cert'" in str(error)
    assert "hunter2" not in str(error)


# ---------------------------------------------------------------- Redis Cluster


def test_cluster_shares_one_token_and_keeps_token_and_lock_in_one_slot(
    redis_cluster: RedisClusterSet, ims: LocalIMS, cred: Credential
) -> None:
    config = cred.config("oauth", cache=redis_cluster.url)
    with imstoken.from_config(config) as provider:
        first = provider.get_token()
    _slots.clear()
    with imstoken.from_config(config) as provider:
        assert provider.get_token() == first
    assert ims.count() == 1
    cluster = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    try:
        [token_key] = [k.decode() for k in cluster.keys(target_nodes=cluster.ALL_NODES)]
        cache = RedisCache(redis_cluster.url)
        key = token_key.removeprefix("imstoken:token:{").removesuffix("}")
        assert cache.token_key(key) == token_key
        assert cluster.keyslot(token_key) == cluster.keyslot(cache.lock_key(key))
        cache.close()
    finally:
        cluster.close()


def test_cluster_lock_excludes_others_and_only_its_owner_releases_it(
    redis_cluster: RedisClusterSet,
) -> None:
    first, second = sealed(RedisCache(redis_cluster.url)), sealed(RedisCache(redis_cluster.url))
    try:
        first.store(KEY, make_token("shared"), time.time())
        loaded = second.load(KEY)
        assert loaded is not None
        assert loaded[0].access_token == "shared"
        held = first.acquire(KEY, ttl=30, wait=0)
        assert held is not None
        assert second.acquire(KEY, ttl=30, wait=0) is None
        second.release(RedisLock(held.name, "not-the-owner"))
        assert second.acquire(KEY, ttl=30, wait=0) is None
        first.release(held)  # the script runs on the node that owns the lock's slot
        assert second.acquire(KEY, ttl=30, wait=0) is not None
    finally:
        first.close()
        second.close()


def test_unreachable_cluster_still_builds_and_serves_tokens(
    ims: LocalIMS, cred: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis+cluster://:hunter2@127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    caplog.set_level(logging.WARNING, "imstoken")
    with imstoken.from_config(cred.config("oauth", cache=url)) as provider:
        assert provider.get_token().access_token
    assert ims.count() == 1
    [warning] = warnings_of(caplog)
    assert "hunter2" not in warning.getMessage()


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("redis+cluster://127.0.0.1:7000/1", "database 0"),
        ("redis+cluster://127.0.0.1", "host:port"),
        ("redis+cluster://127.0.0.1:7000?db=2", "'db'"),
        ("redis+sentinel://127.0.0.1:26379", "master's name"),
        ("redis+sentinel://127.0.0.1:26379/mymaster/x", "number"),
        ("redis+sentinel://127.0.0.1:26379/mymaster?ssl_ca_certs=/ca", "rediss://"),
    ],
)
def test_wrong_cluster_and_sentinel_urls_are_config_errors(
    cred: Credential, url: str, named: str
) -> None:
    assert named in str(config_error(cred, url))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis+cluster://:pw@a:7000,b:7001", "redis+cluster://***@a:7000,b:7001"),
        (
            "rediss+sentinel://u:pw@a:26379,[::1]:26380/mymaster/2?sentinel_password=sp",
            "rediss+sentinel://***@a:26379,[::1]:26380/mymaster/2",
        ),
    ],
)
def test_multi_host_urls_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "pw" in url_secrets(url)
    assert ("sp" in url_secrets(url)) == ("sentinel_password" in url)


# ---------------------------------------------------------------- Sentinel


def test_sentinel_failover_during_a_herd(
    redis_sentinels: RedisSentinelSet, ims: LocalIMS, cred: Credential
) -> None:
    config = cred.config("oauth", cache=redis_sentinels.url)

    def provider() -> imstoken.TokenProvider:
        # A short outage pause, so the herd finds the new master soon after the failover.
        return imstoken.from_config(
            config, shared_cache=RedisCache(redis_sentinels.url, retry_interval=0.2)
        )

    with provider() as first_provider:
        first = first_provider.get_token()
    master = redis.Redis(port=redis_sentinels.master.port)
    assert master.wait(1, 5000) == 1  # the replica holds the shared token too
    master.close()

    stop = threading.Event()
    failures: list[BaseException] = []
    served = [0] * 6

    def caller(index: int) -> None:
        with provider() as own:
            while not stop.is_set():
                _slots.clear()  # forget the process's copy: every call goes to Redis
                try:
                    token = own.get_token()
                    assert token.expires_at > time.time()
                    served[index] += 1
                except BaseException as error:  # every failure is the finding
                    failures.append(error)
                stop.wait(0.01)  # pacing only: keeps the outage's token requests few

    herd = [threading.Thread(target=caller, args=(i,)) for i in range(len(served))]
    for thread in herd:
        thread.start()
    try:
        redis_sentinels.kill_master()
        redis_sentinels.wait_for_failover()
        before = sum(served)
        # The herd keeps going against the new master until every caller has been served again.
        deadline = time.monotonic() + 10
        while sum(served) < before + 4 * len(served) and time.monotonic() < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        for thread in herd:
            thread.join()
    assert failures == []
    assert all(served)

    # Sharing resumed: a new provider with an empty memory cache gets the shared token from the
    # promoted replica, and the token endpoint sees no new request.
    requests = ims.count()
    _slots.clear()
    with provider() as late:
        token = late.get_token()
    assert ims.count() == requests
    assert token.expires_at > time.time()
    if requests == 1:
        assert token == first  # no caller had to mint during the outage


def test_sentinel_password_never_shows_in_warnings(
    ims: LocalIMS, cred: Credential, caplog: pytest.LogCaptureFixture
) -> None:
    url = (
        f"redis+sentinel://:hunter2@127.0.0.1:{free_port()}/mymaster/0"
        "?sentinel_password=s3ntinel-pw"
    )
    caplog.set_level(logging.WARNING, "imstoken")
    with imstoken.from_config(cred.config("oauth", cache=url)) as provider:
        assert provider.get_token().access_token
    [warning] = warnings_of(caplog)
    for secret in ("hunter2", "s3ntinel-pw"):
        assert secret not in warning.getMessage()
        assert secret not in repr(provider)


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
