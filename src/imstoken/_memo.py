"""Validated settings remembered by the digest of the configuration they came from.

An application that builds a provider per call for a known credential should not validate the
same mapping again each time. The memo's key is a keyed BLAKE2b digest of the configuration's
contents (after ``{ env = "NAME" }`` references are resolved), computed at every build: a mapping
mutated since the last build has another digest, so a change is always seen. The digest's key
is random per process, so the memo holds nothing from which a secret could be recovered or
checked; the settings it holds wrap their secrets like any provider's.

Configurations that name a file whose contents matter (``private_key_path``, a ``{ file = ... }``
reference) are not remembered: the file may change between two builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._backends import Backend
from ._config import Settings

#: Remembered configurations; past this the oldest is forgotten (a memo, not a cache of tokens).
MEMO_SIZE = 4096
# Keys whose value is read from a file by the validation (aliases included).
_FILE_KEYS = frozenset({"private_key_path", "private_key_file"})

_digest_key = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a provider is wired from, for one validated configuration."""

    settings: Settings
    cache_key: str
    api_headers: dict[str, str]
    # The sans-I/O backend (frozen, so providers may share it); None where it holds state of
    # its own (several secrets, or secrets read from files): each provider builds its own.
    backend: Backend | None = None


class _Unmemoisable(Exception):
    """The configuration holds something the digest cannot stand for."""


def _plain(value: object) -> object:
    # json.dumps' fallback: only values whose text stands for them exactly.
    if isinstance(value, tuple | list):
        return list(value)
    raise _Unmemoisable


_ATOMS = (str, int, float, bool, type(None))
_SCALARS = (*_ATOMS, list, tuple)


def _references_files(config: Mapping[str, Any]) -> bool:
    for key, value in config.items():
        if key in _FILE_KEYS:
            return True
        if type(value) in _SCALARS:  # the usual values: no isinstance against an ABC
            if type(value) in (list, tuple) and any(type(v) not in _SCALARS for v in value):
                return True  # e.g. client_secrets = [{ file = ... }]: not remembered
            continue
        if isinstance(value, Mapping) and ("file" in value or _references_files(value)):
            return True
    return False


def is_plain(config: object) -> bool:
    """A dict of strings to scalars and lists of scalars: nothing to resolve, and its ``repr``
    stands for its contents exactly (the common shape, so it gets the fast path)."""
    if type(config) is not dict:
        return False
    for key, value in config.items():
        kind = type(value)
        if type(key) is not str or key in _FILE_KEYS or kind not in _SCALARS:
            return False
        if (kind is list or kind is tuple) and any(type(v) not in _ATOMS for v in value):
            return False
    return True


def config_digest(
    config: Mapping[str, Any],
    credential: str | None,
    base_dir: Path | None,
    *,
    plain: bool | None = None,
) -> bytes | None:
    """A digest standing for exactly this configuration, or None if it may not be remembered.

    ``plain``: what :func:`is_plain` said of ``config``, if the caller already asked.
    """
    where = None if base_dir is None else str(base_dir)
    if plain if plain is not None else is_plain(config):
        text = repr((config, credential, where))
        return hashlib.blake2b(text.encode(), key=_digest_key, digest_size=32).digest()
    if not isinstance(config, Mapping):
        return None  # build_settings names the problem
    try:
        if _references_files(config):
            return None
        text = json.dumps(
            [config, credential, where],
            sort_keys=True,
            separators=(",", ":"),
            default=_plain,
        )
    except (_Unmemoisable, TypeError, ValueError, OSError):
        return None
    return hashlib.blake2b(text.encode(), key=_digest_key, digest_size=32).digest()


class SettingsMemo:
    """Digest to :class:`Prepared`, at most :data:`MEMO_SIZE` of them, oldest forgotten first."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: dict[bytes, Prepared] = {}

    def get(self, digest: bytes) -> Prepared | None:
        """The remembered preparation for ``digest``, if any."""
        return self._items.get(digest)

    def put(self, digest: bytes, prepared: Prepared) -> None:
        """Remember ``prepared`` under ``digest``."""
        with self._lock:
            items = self._items
            while len(items) >= self._size:
                del items[next(iter(items))]
            items[digest] = prepared

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def after_fork(self) -> None:
        """A forked child gets a fresh lock (the parent's may have been held)."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)


memo = SettingsMemo()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=memo.after_fork)
