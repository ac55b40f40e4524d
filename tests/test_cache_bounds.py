"""What a shared cache may hand back: only a regular, private file; plausible records; keys with
a TTL (issue 11, items 11-13)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

import imstoken
from imstoken._backends._protocol import secret_material
from imstoken._caches._file import FileCache, file_name
from imstoken._caches._record import decode_record, encode_record
from imstoken._caches._seal import Sealer
from imstoken._caches._sealed import SealedCache
from imstoken._token import Token
from imstoken.testing import Credential, LocalIMS

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the file cache is POSIX only")

KEY = "oauth:0123456789abcdef0123456789abcdef01234567"
SECRET = "a-client-secret"


def sealed(folder: Path) -> SealedCache:
    return SealedCache(FileCache(folder), lambda: secret_material(SECRET))


def token(lifetime: float = 3600.0, access_token: str = "tok-1") -> Token:
    return Token(access_token, "bearer", time.time() + lifetime, "oauth")


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_fifo_at_the_token_file_never_blocks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "cache"
    cache = sealed(folder)
    fifo = folder / file_name(KEY)
    os.mkfifo(fifo, 0o600)
    results: list[object] = []
    reader = threading.Thread(target=lambda: results.append(cache.load(KEY)), daemon=True)
    reader.start()
    reader.join(10)  # a safety net only: the read returns at once or never
    blocked = reader.is_alive()
    if blocked:  # free the reader on a build that blocks, so the test run goes on
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert not blocked
    assert results == [None]
    assert any("not a regular file" in message for message in warnings_of(caplog))
    cache.store(KEY, token(), time.time())  # and it is replaced by a real file
    assert cache.load(KEY) is not None


def test_a_fifo_at_the_token_file_does_not_stop_the_provider(
    ims: LocalIMS, cred: Credential, tmp_path: Path
) -> None:
    folder = tmp_path / "cache"
    config = cred.config("oauth", cache="file", cache_path=str(folder))
    with imstoken.from_config(config) as provider:
        os.mkfifo(folder / file_name(provider.cache_key), 0o600)
        done = threading.Event()
        threading.Thread(target=lambda: (provider.get_token(), done.set()), daemon=True).start()
        finished = done.wait(10)
        if not finished:
            os.close(os.open(folder / file_name(provider.cache_key), os.O_WRONLY | os.O_NONBLOCK))
    assert finished
    assert ims.count() == 1


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_token_file_writable_by_others_is_refused_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    folder = tmp_path / "cache"
    cache = sealed(folder)
    cache.store(KEY, token(), time.time())
    (folder / file_name(KEY)).chmod(mode)
    assert cache.load(KEY) is None
    assert cache.load(KEY) is None
    refusals = [m for m in warnings_of(caplog) if "writable by group or others" in m]
    assert len(refusals) == 1
    cache.store(KEY, token(), time.time())  # replaced by a 0600 file
    assert cache.load(KEY) is not None


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("obtained_at", "expires_at"),
    [
        pytest.param(NOW, NOW + 10 * 365 * 86400, id="ten-years-out"),
        pytest.param(NOW, NOW + 401 * 86400, id="over-400-days"),
        pytest.param(NOW + 3600, NOW + 7200, id="obtained-in-the-future"),
        pytest.param(NOW, NOW, id="no-lifetime"),
        pytest.param(NOW, NOW - 10, id="expires-before-obtained"),
    ],
)
def test_implausible_records_are_refused(obtained_at: float, expires_at: float) -> None:
    data = encode_record(KEY, Token("tok", "bearer", expires_at, "oauth"), obtained_at)
    assert decode_record(KEY, data, NOW) is None


def test_a_plausible_record_is_accepted() -> None:
    data = encode_record(KEY, Token("tok", "bearer", NOW + 86400, "oauth"), NOW - 60)
    assert decode_record(KEY, data, NOW) is not None


@pytest.mark.parametrize("access_token", ["tok\x7f", "tok\tx", "tök", "tok\x01"])
def test_a_record_with_a_token_outside_vschar_is_refused(access_token: str) -> None:
    record = json.loads(encode_record(KEY, Token("tok", "bearer", NOW + 60, "oauth"), NOW))
    record["access_token"] = access_token
    assert decode_record(KEY, json.dumps(record).encode(), NOW) is None


@pytest.mark.redis
def test_a_redis_key_without_a_ttl_is_not_trusted(
    ims: LocalIMS, cred: Credential, redis_url: str
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    with imstoken.from_config(cred.config("oauth", cache=redis_url)) as provider:
        key = provider.cache_key
        plaintext = encode_record(key, token(access_token="planted"), time.time())
        sealer = Sealer(lambda: secret_material(cred.client_secret))
        client.set(f"imstoken:token:{{{key}}}", sealer.seal(key, plaintext))  # no TTL
        assert provider.get_token().access_token != "planted"
        assert ims.count() == 1
        assert client.pttl(f"imstoken:token:{{{key}}}") > 0  # replaced, with a TTL
    client.close()
