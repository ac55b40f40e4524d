"""Secrets that live in files and change in place (``{ file = "PATH" }``, ``private_key_path``).

A file is read when the configuration is built; afterwards it is only *stat*-ed (device, inode,
mtime, size), once per token fetch and after an ``invalid_client`` answer, never on the hot path.
A Kubernetes secret volume swaps a ``..data`` symlink to update every file at once: ``os.stat``
follows the links, so the swap shows as a new inode. A file that becomes unreadable keeps its
last good value (one WARNING until it is readable again); a call never fails because of it.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ConfigError

logger = logging.getLogger("imstoken")

#: A secret file larger than this is not a secret (a mounted folder, a log by mistake).
MAX_SECRET_FILE_BYTES = 1 << 20

#: (device, inode, mtime in ns, size) of a file, or None where it cannot be stat-ed.
FileSignature = tuple[int, int, int, int] | None


def file_signature(path: Path) -> FileSignature:
    """What tells a changed file from the one read before (symlinks followed)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


def strip_newline(text: str) -> str:
    """A file's text without its trailing line break(s): ``echo secret > file`` adds one."""
    return text.rstrip("\r\n")


class SecretFiles:
    """The files one configuration reads secrets from: last good values and their signatures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signatures: dict[Path, FileSignature] = {}
        self._values: dict[Path, str] = {}
        self._warned: set[Path] = set()

    def __repr__(self) -> str:
        return f"SecretFiles({len(self._signatures)} file(s))"

    @property
    def watched(self) -> bool:
        """Whether any file is watched (a configuration without file references has none)."""
        with self._lock:
            return bool(self._signatures)

    def watch(self, path: Path) -> None:
        """Watch a file another reader reads (``private_key_path``): note its signature now."""
        signature = file_signature(path)
        with self._lock:
            self._signatures[path] = signature

    def read(self, path: Path, key: str) -> str:
        """The file's text, stripped of its trailing newline.

        The first read raises ``ConfigError`` naming ``key`` (never the value); later reads of
        an unreadable or empty file return the last good value and warn once.
        """
        signature = file_signature(path)  # before the read: a change after it shows next time
        try:
            value = strip_newline(_read_text(path))
            if not value:
                raise OSError("is empty")
        except (OSError, UnicodeDecodeError) as error:
            with self._lock:
                self._signatures[path] = signature
                last = self._values.get(path)
                first_warning = path not in self._warned
                self._warned.add(path)
            reason = error.strerror or str(error) if isinstance(error, OSError) else "is not UTF-8"
            if last is None:
                message = f"names the file {str(path)!r}, which {_which(reason)}"
                raise ConfigError(message, key=key) from None
            if first_warning:
                logger.warning(
                    "imstoken: secret file for %s %s; keeping its last good value",
                    key,
                    _which(reason),
                )
            return last
        with self._lock:
            self._signatures[path] = signature
            self._values[path] = value
            self._warned.discard(path)
        return value

    def changed(self) -> bool:
        """Whether a watched file differs from when it was last read (a few ``stat`` calls)."""
        with self._lock:
            watched = list(self._signatures.items())
        return any(file_signature(path) != signature for path, signature in watched)


def _which(reason: str) -> str:
    return reason if reason.startswith("is ") else f"cannot be read ({reason})"


def _read_text(path: Path) -> str:
    data = read_regular_file(path, MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise OSError("is too large for a secret")
    return data.decode("utf-8-sig")


def read_regular_file(path: Path, limit: int = -1) -> bytes:
    """Up to ``limit`` bytes (all for -1) of the regular file at ``path`` (links followed).

    Opened without blocking and checked with ``fstat`` before a byte is read: a FIFO, a
    socket or a device where a secret should be raises ``OSError("is not a regular file")``
    instead of blocking the caller for ever.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    with open(fd, "rb", closefd=True) as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
            raise OSError("is not a regular file")
        return handle.read(limit)


@dataclass(frozen=True, slots=True, eq=False)
class SettingsSource:
    """How to build a credential's settings again when one of its secret files changes."""

    files: SecretFiles
    settle: Callable[[], Any]
