"""``imstoken cache show | clear``: the shared-cache records of a config's credentials.

Shows what can be known without opening a record: the cache key, where the record is (a file,
or a Redis key), and its expiry (Redis TTL) or age (the file's time). Records are never read,
so no token is ever printed (and sealed records need no key). ``clear`` deletes the records,
not the lock files a running process may hold.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import ConfigError
from .._config import Settings, build_settings, resolve_env_references
from ._check import credentials_in
from ._load import Loaded, load_config
from ._shared import EXIT_FAILED, EXIT_OK, LABEL, UsageError, one_line


@dataclass
class Record:
    """One credential's place in the shared cache, and what is known about it from outside."""

    credential: str
    cache_key: str
    store: str  # "file" or "redis"
    location: str  # the file path, or the Redis key
    present: bool = False
    ttl_seconds: float | None = None  # Redis: time to live
    modified: float | None = None  # file: mtime (Unix seconds)
    size: int | None = None
    url: str = field(default="", repr=False)  # the Redis URL; may hold a password

    def document(self) -> dict[str, Any]:
        """For ``--json``: everything but the URL."""
        return {name: value for name, value in vars(self).items() if name != "url"}


def run_cache(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``show`` lists the records; ``clear`` deletes them."""
    loaded = load_config(args)
    kinds, _active = credentials_in(loaded.config, args.credential)
    settings = [settings_for(loaded, kind) for kind in kinds]
    stores = {item.cache for item in settings}
    if stores <= {"memory", "none"}:
        raise UsageError(
            'the config uses the in-memory cache (cache = "memory"): there is no shared '
            'record to show or clear; set cache = "file" or a redis:// URL'
        )
    records = [locate(item) for item in settings if item.cache not in ("memory", "none")]
    if args.action == "clear":
        for record in records:
            removed = clear(record)
            state = "deleted" if removed else "nothing to delete"
            out.write(f"[{record.credential}] {record.location}: {state}\n")
        return EXIT_OK
    for record in records:
        inspect(record)
    if args.json:
        out.write(json.dumps([record.document() for record in records], indent=2) + "\n")
        return EXIT_OK
    for record in records:
        describe(record, out)
    out.write("record contents (bearer tokens) are never read or shown here\n")
    return EXIT_OK if records else EXIT_FAILED


def settings_for(loaded: Loaded, kind: str) -> Settings:
    """The settings a provider for ``kind`` would use (validated; no request)."""
    resolved = resolve_env_references(loaded.config, credential=kind)
    return build_settings(resolved, credential=kind, base_dir=loaded.base_dir)


def locate(settings: Settings) -> Record:
    """Where ``settings``' record lives."""
    key = settings.cache_key()
    if settings.cache == "file":
        from .._caches._file import default_cache_dir, file_name

        folder = Path(settings.cache_path).expanduser() if settings.cache_path else None
        path = (folder or default_cache_dir()).absolute() / file_name(key)
        return Record(settings.credential, key, "file", str(path))
    from .._caches._redis import RedisCache

    # Only for the key's name: RedisCache knows how keys are spelled (prefix, hash tags).
    cache = RedisCache(settings.cache, prefix=settings.cache_prefix)
    try:
        name = cache.token_key(key)
    finally:
        cache.close()
    return Record(settings.credential, key, "redis", name, url=settings.cache)


def redis_client(settings_url: str) -> Any:
    """A short-timeout client for ``cache show/clear`` (errors name the URL without secrets)."""
    from .._caches._redis_connect import connect

    # The cache's own connect: cluster and sentinel URLs, TLS options and URL checks included.
    return connect(settings_url, socket_timeout=2, connect_timeout=2).client


def inspect(record: Record) -> None:
    """Fill in presence, expiry or age, without reading the record."""
    if record.store == "file":
        try:
            info = os.stat(record.location, follow_symlinks=False)
        except FileNotFoundError:
            return
        except OSError as error:
            raise folder_error(error) from None
        record.present, record.modified, record.size = True, info.st_mtime, info.st_size
        return
    client = redis_client(record.url)
    try:
        ttl_ms = client.pttl(record.location)
    except Exception as error:  # noqa: BLE001 - redis-py's errors may quote the URL
        raise redis_error(record, error) from None
    finally:
        client.close()
    if ttl_ms is not None and ttl_ms != -2:
        record.present = True
        record.ttl_seconds = None if ttl_ms < 0 else ttl_ms / 1000


def clear(record: Record) -> bool:
    """Delete the record; True if there was one."""
    if record.store == "file":
        try:
            os.unlink(record.location)
        except FileNotFoundError:
            return False
        except OSError as error:
            raise folder_error(error) from None
        return True
    client = redis_client(record.url)
    try:
        return bool(client.delete(record.location))
    except Exception as error:  # noqa: BLE001 - redis-py's errors may quote the URL
        raise redis_error(record, error) from None
    finally:
        client.close()


def folder_error(error: OSError) -> ConfigError:
    """A one-line error naming ``cache_path`` for a cache folder that cannot be used."""
    if error.errno == errno.ENOTDIR:
        problem = "the cache folder path is not a folder: a file is in the way"
    else:
        problem = f"the cache folder cannot be used ({error.strerror or type(error).__name__})"
    return ConfigError(problem, key="cache_path")


def redis_error(record: Record, error: BaseException) -> ConfigError:
    """A one-line error naming the store, never its password."""
    from .._caches._redis_connect import redact_url

    return ConfigError(
        f"the Redis cache at {redact_url(record.url)} could not be reached "
        f"({type(error).__name__})",
        key="cache",
    )


def describe(record: Record, out: TextIO) -> None:
    """The lines of one record."""
    out.write(f"[{record.credential}] {LABEL[record.credential]}\n")
    out.write(f"  cache key: {record.cache_key}\n")
    out.write(f"  {record.store}: {one_line(record.location)}\n")
    if not record.present:
        out.write("  record: none\n")
    elif record.store == "file" and record.modified is not None:
        age = max(0, int(time.time() - record.modified))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.modified))
        out.write(f"  record: {record.size} bytes, written {stamp} ({age} s ago)\n")
    elif record.ttl_seconds is None:
        out.write("  record: present, no expiry set\n")
    else:
        out.write(f"  record: present, expires in {record.ttl_seconds:.0f} s (Redis TTL)\n")
