"""The file cache: one token shared by every process of one user on one machine.

``cache = "file"`` keeps one sealed record file per cache key in a private folder (``cache_path``,
default ``$XDG_CACHE_HOME/imstoken`` or ``~/.cache/imstoken``), and a lock file beside it for
single-flight refreshes across processes.

Security: records are sealed (:mod:`imstoken._caches._sealed`), and files are still created
0600 in a folder created 0700; a folder that is a symlink, belongs to another user or is
world-writable is refused (with a warning; the provider then works without a shared cache).
Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked on the open descriptor (a regular
file of this user, writable by no one else), and written through a temp file and
``os.replace``, so a symlink or FIFO planted at a cache path is neither followed, nor waited
on, nor written through. POSIX only (``fcntl.flock``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._breaker import CircuitBreaker
from ._polling import Pacing, poll

if sys.platform != "win32":
    import fcntl

logger = logging.getLogger("imstoken")

_READ_LIMIT = 64 * 1024
# Lock polling: start fast so a short refresh is noticed at once, back off to spare the CPU.
_FIRST_POLL = 0.002
_MAX_POLL = 0.05
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()
NOT_A_FOLDER = "the cache folder path is not a folder: a file is in the way"
_SUPPORTED = sys.platform != "win32" and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/imstoken``, or ``~/.cache/imstoken``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "imstoken"


def file_name(key: str) -> str:
    """The file name for a cache key: readable, filesystem-safe, and distinct per key."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[:48] or "token"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{readable}.{digest}.json"


@dataclass(slots=True)
class FileLock:
    """A held ``flock`` on a cache key's lock file; the kernel drops it if the holder dies."""

    fd: int = field(repr=False)
    name: str


class FileCache:
    """A :class:`~imstoken._caches._protocol.RecordStore` in a private folder of this machine.

    Never raises to the provider: an unusable folder or an I/O error is logged once and answered
    with "nothing cached" / "lock not taken". It stores opaque records: sealing them is the
    job of the :class:`~imstoken._caches._sealed.SealedCache` around it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._pacing = Pacing(_FIRST_POLL, _MAX_POLL, monotonic, sleep)
        self.path = Path(os.fspath(path)).expanduser() if path is not None else default_cache_dir()
        self.path = self.path.absolute()
        self._outage = CircuitBreaker(f"file cache in {self.path}", retry_interval=0.0)
        if not _SUPPORTED:
            self._outage.failed("file locking needs a POSIX system")
            return
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            # A file where the folder (or one of its parents) should be: say so, not "File
            # exists".
            not_a_folder = error.errno in (errno.EEXIST, errno.ENOTDIR)
            self._outage.failed(NOT_A_FOLDER if not_a_folder else _describe(error))
            return
        # Check the folder now, so a bad folder is reported when the provider is built.
        with self._directory():
            pass

    def __repr__(self) -> str:
        return f"FileCache({str(self.path)!r})"

    # ------------------------------------------------------------------ the protocol

    def read(self, key: str) -> bytes | None:
        """The record stored for ``key``; None if missing, unreadable or not safe to trust.

        Opened without blocking and without following a symlink, then checked on the open
        descriptor: only a regular file of this user that no one else may write is read (a
        FIFO, a device or a foreign file is refused, with one warning).
        """
        with self._directory() as dir_fd:
            if dir_fd is None:
                return None
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            try:
                fd = os.open(file_name(key), flags, dir_fd=dir_fd)
            except FileNotFoundError:
                self._outage.succeeded()
                return None
            except OSError as error:
                if error.errno == errno.ELOOP:
                    self._warn_once("a symlink at a token file")
                    return None
                self._outage.failed(_describe(error))
                return None
            try:
                problem = _file_problem(os.fstat(fd))
                if problem is not None:
                    self._warn_once(problem)
                    return None
                data = os.read(fd, _READ_LIMIT + 1)
            except OSError as error:
                self._outage.failed(_describe(error))
                return None
            finally:
                os.close(fd)
        self._outage.succeeded()
        # Corrupt, truncated, empty or foreign content is just "nothing cached": the next
        # write replaces it. It is not deleted here, which could remove a fresh file that
        # another process has just renamed into place.
        return data if 0 < len(data) <= _READ_LIMIT else None

    def write(self, key: str, record: bytes, ttl: float) -> None:
        """Write ``record`` atomically (temp file, then rename), readable by this user only.

        ``ttl`` is unused: a file outlives its token, and a stale record is simply not fresh.
        """
        del ttl
        data = record
        with self._directory() as dir_fd:
            if dir_fd is None:
                return
            name = file_name(key)
            temp = f".{name}.{secrets.token_hex(8)}.tmp"
            try:
                fd = os.open(
                    temp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=dir_fd,
                )
            except OSError as error:
                self._outage.failed(_describe(error))
                return
            try:
                try:
                    os.fchmod(fd, 0o600)  # whatever the umask
                    _write_all(fd, data)
                    # No fsync: after a power loss an empty or partial file is read as "nothing
                    # cached", and a cache is not worth a disk flush per token.
                finally:
                    os.close(fd)
                # rename() replaces a symlink at the destination instead of writing through it.
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)
                self._outage.failed(_describe(error))
                return
        self._outage.succeeded()

    def delete(self, key: str) -> None:
        """Remove the token file for ``key``, if any."""
        with self._directory() as dir_fd:
            if dir_fd is None:
                return
            try:
                os.unlink(file_name(key), dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            except OSError as error:
                self._outage.failed(_describe(error))
                return
        self._outage.succeeded()

    def acquire(self, key: str, ttl: float, wait: float) -> FileLock | None:
        """Take the refresh lock for ``key``, polling for up to ``wait`` seconds.

        ``flock`` is released by the kernel when its holder exits or dies, so ``ttl`` is not
        needed for crash safety; a holder that hangs (alive) is bounded by ``wait``: after it,
        the caller gets None and fetches without the lock.
        """
        del ttl
        with self._directory() as dir_fd:
            if dir_fd is None:
                return None
            name = file_name(key) + ".lock"
            try:
                flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
                fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
            except OSError as error:
                if error.errno == errno.ELOOP:
                    self._warn_once("a symlink at a lock file")
                else:
                    self._outage.failed(_describe(error))
                return None
        # The lock file is never deleted: unlinking a lock file others may hold or be about to
        # open lets two processes lock two different inodes.
        try:
            problem = _file_problem(os.fstat(fd))
            if problem is not None:
                self._warn_once(problem.replace("token file", "lock file"))
                os.close(fd)
                return None
            if self._lock_within(fd, wait):
                self._outage.succeeded()
                return FileLock(fd, name)
        except OSError as error:
            self._outage.failed(_describe(error))
        os.close(fd)
        return None

    def release(self, handle: object) -> None:
        """Unlock and close a lock taken by :meth:`acquire`."""
        if not isinstance(handle, FileLock) or handle.fd < 0:
            return
        fd, handle.fd = handle.fd, -1
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass  # closing the descriptor below releases it anyway
        finally:
            os.close(fd)

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own descriptors."""

    def _warn_once(self, problem: str) -> None:
        """One WARNING per folder and problem for this process; the file is ignored."""
        mark = (str(self.path), problem)
        with _warned_lock:
            if mark in _warned:
                return
            _warned.add(mark)
        logger.warning("imstoken: refusing %s in %s; it is ignored", problem, self.path)

    def _lock_within(self, fd: int, wait: float) -> bool:
        """``flock`` with a deadline: non-blocking tries with short, growing pauses."""

        def attempt() -> bool | None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            return True

        return poll(attempt, wait, self._pacing) is not None

    # ------------------------------------------------------------------ the folder

    @contextlib.contextmanager
    def _directory(self) -> Iterator[int | None]:
        """A descriptor of the cache folder if it is safe to use, else None (logged once).

        Operations go through this descriptor (``dir_fd``), so the folder cannot be swapped
        for another between the check and the use.
        """
        if not _SUPPORTED:
            yield None
            return
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            try:
                dir_fd = os.open(self.path, flags)
            except FileNotFoundError:
                # Removed since we started (a cache cleaner): make it again.
                self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
                dir_fd = os.open(self.path, flags)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                self._outage.failed("the cache folder is a symlink or not a folder")
            else:
                self._outage.failed(_describe(error))
            yield None
            return
        try:
            problem = _folder_problem(os.fstat(dir_fd))
            if problem is not None:
                self._outage.failed(problem)
                yield None
            else:
                yield dir_fd
        finally:
            os.close(dir_fd)


def _folder_problem(info: os.stat_result) -> str | None:
    if info.st_uid != os.geteuid():
        return "the cache folder belongs to another user"
    if info.st_mode & stat.S_IWOTH:
        return "the cache folder is world-writable"
    return None


def _file_problem(info: os.stat_result) -> str | None:
    """Why a cache file may not be trusted, or None: the folder's rule, applied to the file."""
    if not stat.S_ISREG(info.st_mode):
        return "a token file that is not a regular file (a FIFO, device or folder)"
    if info.st_uid != os.geteuid():
        return "a token file owned by another user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "a token file writable by group or others"
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _describe(error: OSError) -> str:
    # The error name and errno text, not the path: the folder is already in the message.
    return f"{type(error).__name__}: {error.strerror or error}"
