"""The file cache: private, atomic, symlink-proof, and forgiving of files it did not write."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path

import pytest

import imstoken
from imstoken import _slots
from imstoken._backends._protocol import secret_material
from imstoken._caches._file import FileCache, default_cache_dir, file_name
from imstoken._caches._record import encode_record
from imstoken._caches._seal import Sealer
from imstoken._caches._sealed import SealedCache
from imstoken._token import Token
from imstoken.testing import Credential, LocalIMS

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the file cache is POSIX only")

KEY = "oauth:0123456789abcdef0123456789abcdef01234567"
OTHER_KEY = "oauth:fedcba9876543210fedcba9876543210fedcba98"


def make_token(access_token: str = "tok-1", lifetime: float = 3600.0) -> Token:
    return Token(
        access_token=access_token,
        token_type="bearer",
        expires_at=time.time() + lifetime,
        credential="oauth",
        scope="openid",
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "cache"


SECRET = secret_material("a-client-secret")


def sealed(store: FileCache, secret: str = "a-client-secret") -> SealedCache:
    """The file cache as a provider holds it: records sealed with the credential's secret."""
    return SealedCache(store, lambda: secret_material(secret))


@pytest.fixture
def cache(folder: Path) -> SealedCache:
    return sealed(FileCache(folder))


def shared_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "imstoken" and r.levelno == logging.WARNING
    ]


# ---------------------------------------------------------------- storage


def test_round_trip_returns_token_and_obtained_at(cache: SealedCache) -> None:
    token = make_token()
    obtained_at = time.time() - 10
    cache.store(KEY, token, obtained_at)
    assert cache.load(KEY) == (token, obtained_at)


def test_missing_entry_is_none(cache: SealedCache) -> None:
    assert cache.load(KEY) is None


def test_folder_is_created_0700(folder: Path, cache: SealedCache) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_token_file_is_0600_whatever_the_umask(folder: Path, cache: SealedCache) -> None:
    old = os.umask(0)
    try:
        cache.store(KEY, make_token(), time.time())
    finally:
        os.umask(old)
    assert stat.S_IMODE((folder / file_name(KEY)).stat().st_mode) == 0o600


def test_stored_record_opens_to_the_documented_fields(folder: Path, cache: SealedCache) -> None:
    token = make_token()
    cache.store(KEY, token, token.expires_at - 3600)
    data = (folder / file_name(KEY)).read_bytes()
    assert data.startswith(b"ims1.") and b"tok-1" not in data
    opened = Sealer(lambda: SECRET).open(KEY, data)
    assert opened is not None
    record = json.loads(opened)
    assert record == {
        "version": 2,
        "key": KEY,
        "access_token": "tok-1",
        "token_type": "bearer",
        "expires_at": token.expires_at,
        "credential": "oauth",
        "scope": "openid",
        "obtained_at": token.expires_at - 3600,
    }


def test_store_replaces_the_file_atomically(folder: Path, cache: SealedCache) -> None:
    cache.store(KEY, make_token("first"), time.time())
    path = folder / file_name(KEY)
    # A reader that opened the old file keeps reading it whole: the new one is a new inode
    # renamed over the name, never the old file rewritten in place.
    with path.open("rb") as reader:
        old_inode = os.fstat(reader.fileno()).st_ino
        cache.store(KEY, make_token("second"), time.time())
        opened = Sealer(lambda: SECRET).open(KEY, reader.read())
        assert opened is not None and json.loads(opened)["access_token"] == "first"
    assert path.stat().st_ino != old_inode
    loaded = cache.load(KEY)
    assert loaded is not None
    assert loaded[0].access_token == "second"
    assert sorted(p.name for p in folder.iterdir()) == [file_name(KEY)]  # no temp files left


def test_entry_of_another_key_is_never_returned(folder: Path, cache: SealedCache) -> None:
    cache.store(KEY, make_token(), time.time())
    # Even if a file lands under the other key's name (copied, or a hash collision).
    (folder / file_name(OTHER_KEY)).write_bytes((folder / file_name(KEY)).read_bytes())
    assert cache.load(OTHER_KEY) is None
    assert cache.load(KEY) is not None


def test_file_names_differ_per_key_and_are_safe() -> None:
    names = {file_name(KEY), file_name(OTHER_KEY), file_name("../../etc/passwd"), file_name("")}
    assert len(names) == 4
    assert all(os.sep not in name and not name.startswith(".") for name in names)


def test_delete_removes_the_entry(cache: SealedCache) -> None:
    cache.store(KEY, make_token(), time.time())
    cache.delete(KEY)
    assert cache.load(KEY) is None
    cache.delete(KEY)  # deleting nothing is fine


def valid_record() -> bytes:
    return encode_record(KEY, make_token(), time.time())


def seal(plaintext: bytes, key: str = KEY) -> bytes:
    return Sealer(lambda: SECRET).seal(key, plaintext)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="corrupt"),
        pytest.param(b"\x00\xff\xfe garbage", id="binary"),
        pytest.param(seal(valid_record())[:-20], id="truncated"),
        pytest.param(valid_record(), id="plaintext-of-the-old-format"),
        pytest.param(seal(b"[1, 2, 3]"), id="json-list"),
        pytest.param(seal(b'{"access_token": "x", "expires_in": 3600}'), id="foreign-format"),
        pytest.param(seal(valid_record().replace(b'"version":2', b'"version":3')),
                     id="newer-version"),
        pytest.param(seal(valid_record().replace(b'"oauth"', b'"saml"')),
                     id="unknown-credential"),
        pytest.param(seal(valid_record().replace(b'"tok-1"', b"null")), id="no-token"),
        pytest.param(seal(valid_record().replace(b'"expires_at":', b'"expires_at":"soon",'
                                                 b'"x":')), id="bad-expiry"),
        pytest.param(b" " * (70 * 1024), id="oversized"),
    ],
)
def test_bad_file_is_ignored_then_replaced(
    folder: Path, cache: SealedCache, content: bytes
) -> None:
    path = folder / file_name(KEY)
    path.write_bytes(content)
    assert cache.load(KEY) is None
    cache.store(KEY, make_token("fresh"), time.time())
    loaded = cache.load(KEY)
    assert loaded is not None
    assert loaded[0].access_token == "fresh"


# ---------------------------------------------------------------- symlinks and permissions


def test_symlink_at_token_file_is_not_followed(
    folder: Path, cache: SealedCache, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.json"
    # The planted file even holds a valid record for the key: it must still not be read.
    target.write_bytes(seal(encode_record(KEY, make_token("planted"), time.time())))
    before = target.read_bytes()
    (folder / file_name(KEY)).symlink_to(target)

    assert cache.load(KEY) is None
    cache.store(KEY, make_token("mine"), time.time())

    assert target.read_bytes() == before  # not written through the link
    path = folder / file_name(KEY)
    assert not path.is_symlink()
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    loaded = cache.load(KEY)
    assert loaded is not None
    assert loaded[0].access_token == "mine"


def test_symlink_at_lock_file_is_refused(folder: Path, cache: SealedCache, tmp_path: Path) -> None:
    target = tmp_path / "victim"
    (folder / (file_name(KEY) + ".lock")).symlink_to(target)
    assert cache.acquire(KEY, ttl=5, wait=0) is None
    assert not target.exists()  # O_CREAT did not create the link's target


def test_symlinked_folder_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    cache = sealed(FileCache(link))
    cache.store(KEY, make_token(), time.time())
    assert list(real.iterdir()) == []
    assert cache.load(KEY) is None
    assert len(shared_warnings(caplog)) == 1


def test_world_writable_folder_is_refused_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    cache = sealed(FileCache(folder))  # never raises
    cache.store(KEY, make_token(), time.time())
    assert cache.load(KEY) is None
    assert cache.acquire(KEY, ttl=5, wait=0) is None
    cache.delete(KEY)
    assert list(folder.iterdir()) == []
    warnings = shared_warnings(caplog)
    assert len(warnings) == 1
    assert "world-writable" in warnings[0].getMessage()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_folder_of_another_user_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    cache = sealed(FileCache(folder))
    cache.store(KEY, make_token(), time.time())
    assert list(folder.iterdir()) == []
    assert "another user" in shared_warnings(caplog)[0].getMessage()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_token_file_of_another_user_is_ignored(folder: Path, cache: SealedCache) -> None:
    cache.store(KEY, make_token(), time.time())
    os.chown(folder / file_name(KEY), 65534, 65534)
    assert cache.load(KEY) is None


def test_folder_removed_later_is_recreated(folder: Path, cache: SealedCache) -> None:
    folder.rmdir()
    cache.store(KEY, make_token(), time.time())
    assert cache.load(KEY) is not None
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_default_folder_follows_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "imstoken"
    assert FileCache().path == tmp_path / "xdg" / "imstoken"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "imstoken"


# ---------------------------------------------------------------- the lock


def test_lock_is_exclusive_until_released(folder: Path) -> None:
    first, second = FileCache(folder), FileCache(folder)
    held = first.acquire(KEY, ttl=5, wait=0)
    assert held is not None
    assert second.acquire(KEY, ttl=5, wait=0) is None
    first.release(held)
    again = second.acquire(KEY, ttl=5, wait=0)
    assert again is not None
    second.release(again)


def test_waiting_for_a_held_lock_gives_up_after_wait(cache: SealedCache) -> None:
    held = cache.acquire(KEY, ttl=5, wait=0)
    assert held is not None
    begin = time.monotonic()
    assert cache.acquire(KEY, ttl=5, wait=0.1) is None
    assert 0.1 <= time.monotonic() - begin < 1.0
    cache.release(held)


def test_locks_of_different_keys_are_independent(cache: SealedCache) -> None:
    one = cache.acquire(KEY, ttl=5, wait=0)
    two = cache.acquire(OTHER_KEY, ttl=5, wait=0)
    assert one is not None and two is not None
    cache.release(one)
    cache.release(two)
    cache.release(two)  # a second release is harmless


def test_lock_file_is_0600(folder: Path, cache: SealedCache) -> None:
    held = cache.acquire(KEY, ttl=5, wait=0)
    assert held is not None
    cache.release(held)
    assert stat.S_IMODE((folder / (file_name(KEY) + ".lock")).stat().st_mode) == 0o600


# ---------------------------------------------------------------- through the provider


def test_config_cache_file_uses_the_folder(ims: LocalIMS, cred: Credential, folder: Path) -> None:
    config = cred.config("oauth", cache="file", cache_path=str(folder))
    with imstoken.from_config(config) as provider:
        token = provider.get_token()
        loaded = sealed(FileCache(folder), cred.client_secret).load(provider.cache_key)
    assert loaded is not None
    assert loaded[0] == token


def test_second_process_reuses_the_stored_token(
    ims: LocalIMS, cred: Credential, folder: Path
) -> None:
    config = cred.config("oauth", cache="file", cache_path=str(folder))
    with imstoken.from_config(config) as provider:
        first = provider.get_token()
    _slots.clear()  # what a fresh process starts with
    with imstoken.from_config(config) as provider:
        second = provider.get_token()
    assert second == first
    assert ims.count() == 1


def test_corrupt_file_does_not_fail_the_provider(
    ims: LocalIMS, cred: Credential, folder: Path
) -> None:
    config = cred.config("oauth", cache="file", cache_path=str(folder))
    with imstoken.from_config(config) as provider:
        folder.mkdir(mode=0o700, exist_ok=True)
        (folder / file_name(provider.cache_key)).write_bytes(b"\x00{not json")
        token = provider.get_token()
        loaded = sealed(FileCache(folder), cred.client_secret).load(provider.cache_key)
    assert loaded is not None and loaded[0] == token
    assert ims.count() == 1


def test_refused_folder_degrades_to_memory_cache(
    ims: LocalIMS, cred: Credential, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    config = cred.config("oauth", cache="file", cache_path=str(folder))
    with imstoken.from_config(config) as provider:
        provider.get_token()
        provider.get_token(force_refresh=True)
    assert ims.count() == 2
    assert len(shared_warnings(caplog)) == 1


def test_invalidate_deletes_the_file(ims: LocalIMS, cred: Credential, folder: Path) -> None:
    config = cred.config("oauth", cache="file", cache_path=str(folder))
    with imstoken.from_config(config) as provider:
        provider.get_token()
        provider.invalidate()
        assert sealed(FileCache(folder), cred.client_secret).load(provider.cache_key) is None


def test_jwt_and_oauth_tokens_use_different_files(
    ims: LocalIMS, cred: Credential, folder: Path
) -> None:
    with imstoken.from_config(cred.both("jwt", cache="file", cache_path=str(folder))) as jwt:
        jwt_token = jwt.get_token()
    with imstoken.from_config(cred.both("oauth", cache="file", cache_path=str(folder))) as oauth:
        oauth_token = oauth.get_token()
    assert jwt_token.credential == "jwt"
    assert oauth_token.credential == "oauth"
    assert jwt.cache_key != oauth.cache_key
    assert ims.count("jwt") == 1 and ims.count("oauth") == 1
