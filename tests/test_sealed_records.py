"""Sealed shared records: a record that does not open under this credential is never served.

Each case plants a record in the file cache (and in Redis), then asks a fresh provider: the
record is ignored, a token is fetched, the record is replaced by one that opens, and one WARNING
says so. A reader of the file or the Redis value never sees the token.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import imstoken
from imstoken import _slots
from imstoken._backends._protocol import secret_material
from imstoken._caches._file import file_name
from imstoken._caches._seal import Sealer
from imstoken.testing import Credential, LocalIMS

TEN_YEARS = 10 * 365 * 24 * 3600.0


def record(key: str, access_token: str, *, version: int = 2, years: bool = True) -> bytes:
    """A plaintext record for ``key``: a token ten years out (what an attacker would plant)."""
    now = time.time()
    return json.dumps(
        {
            "version": version,
            "key": key,
            "access_token": access_token,
            "token_type": "bearer",
            "expires_at": now + (TEN_YEARS if years else 3600),
            "credential": "oauth",
            "scope": None,
            "obtained_at": now,
        }
    ).encode()


def sealed_with(secret: str, key: str, plaintext: bytes) -> bytes:
    return Sealer(lambda: secret_material(secret)).seal(key, plaintext)


def flip_one_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


# Each makes the planted bytes from (cache key, the credential's real secret).
CASES: dict[str, Callable[[str, str], bytes]] = {
    "planted-without-the-secret": lambda key, secret: sealed_with(
        "attacker-guess", key, record(key, "planted-token")
    ),
    "copied-from-another-credential": lambda key, secret: sealed_with(
        "other-credential-secret",
        "oauth:another",
        record("oauth:another", "planted-token", years=False),
    ),
    "tampered-byte": lambda key, secret: flip_one_byte(
        sealed_with(secret, key, record(key, "planted-token", years=False))
    ),
    "sealed-under-a-rotated-secret": lambda key, secret: sealed_with(
        "the-previous-secret", key, record(key, "planted-token", years=False)
    ),
    "old-plaintext-record": lambda key, secret: record(
        key, "planted-token", version=1, years=False
    ),
    "sealed-but-ten-years-out": lambda key, secret: sealed_with(
        secret, key, record(key, "planted-token")
    ),
}


def warnings_about_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "shared-cache record" in r.getMessage()
    ]


def check_replaced(
    provider: imstoken.TokenProvider,
    ims: LocalIMS,
    stored: Callable[[], bytes | None],
    secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = provider.get_token()
    assert token.access_token != "planted-token"
    assert ims.count() == 1
    data = stored()
    assert data is not None
    assert token.access_token.encode() not in data  # a reader learns no token
    opened = Sealer(lambda: secret_material(secret)).open(provider.cache_key, data)
    assert opened is not None and json.loads(opened)["access_token"] == token.access_token
    assert len(warnings_about_records(caplog)) == 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_file_record_that_does_not_open_is_ignored_refetched_and_replaced(
    case: str, ims: LocalIMS, cred: Credential, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "cache"
    config: dict[str, Any] = cred.config("oauth", cache="file", cache_path=str(folder))
    with imstoken.from_config(config) as provider:
        path = folder / file_name(provider.cache_key)
        path.write_bytes(CASES[case](provider.cache_key, cred.client_secret))
        path.chmod(0o600)
        check_replaced(provider, ims, path.read_bytes, cred.client_secret, caplog)


@pytest.mark.redis
@pytest.mark.parametrize("case", sorted(CASES))
def test_redis_record_that_does_not_open_is_ignored_refetched_and_replaced(
    case: str, ims: LocalIMS, cred: Credential, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    with imstoken.from_config(cred.config("oauth", cache=redis_url)) as provider:
        name = f"imstoken:token:{{{provider.cache_key}}}"
        client.set(name, CASES[case](provider.cache_key, cred.client_secret), ex=3600)

        def stored() -> bytes | None:
            value = client.get(name)
            assert value is None or isinstance(value, bytes)
            return value

        check_replaced(provider, ims, stored, cred.client_secret, caplog)
    client.close()


def test_a_good_record_is_shared_and_opens_only_with_the_secret(
    ims: LocalIMS, cred: Credential, tmp_path: Path
) -> None:
    folder = tmp_path / "cache"
    config = cred.config("oauth", cache="file", cache_path=str(folder))
    with imstoken.from_config(config) as provider:
        first = provider.get_token()
        data = (folder / file_name(provider.cache_key)).read_bytes()
    assert first.access_token.encode() not in data and data.startswith(b"ims1.")
    assert Sealer(lambda: secret_material("wrong")).open(provider.cache_key, data) is None
    _slots.clear()  # a fresh process
    with imstoken.from_config(config) as provider:
        assert provider.get_token() == first
    assert ims.count() == 1
