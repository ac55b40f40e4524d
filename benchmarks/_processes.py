"""Herds across processes: the file cache (one machine) and Redis (many machines).

Each worker is a fresh interpreter ("spawn": nothing inherited), builds its own provider and gets
a token from a few threads once every process is ready. The endpoint is held until every caller
of every process is inside ``get_token``, so one request for all is a fact, not luck.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._herd import HerdResult
from ._subjects import TokenServer

SPAWN = multiprocessing.get_context("spawn")
JOIN_LIMIT = 60.0


def worker(config: dict[str, Any], threads: int, barrier: Any, calling: Any, results: Any) -> None:
    """In a child process: a provider, then ``threads`` threads calling ``get_token`` at once."""
    import imstoken

    provider = imstoken.from_config(config)
    start = threading.Barrier(threads + 1)
    tokens: list[str] = []
    errors: list[str] = []

    def call() -> None:
        start.wait()
        with calling.get_lock():
            calling.value += 1
        try:
            tokens.append(provider.get_token().access_token)
        except Exception as error:
            errors.append(repr(error))

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait(timeout=JOIN_LIMIT)
    start.wait()
    for thread in workers:
        thread.join()
    results.put((sorted(set(tokens)), errors, time.perf_counter()))
    provider.close()


def herd_processes(
    server: TokenServer, config: dict[str, Any], processes: int, threads: int
) -> HerdResult:
    """``processes`` fresh interpreters, ``threads`` callers each, sharing ``config``'s cache."""
    barrier = SPAWN.Barrier(processes)
    calling = SPAWN.Value("i", 0)
    results = SPAWN.Queue()
    server.reset_counts()
    server.pause()
    children = []
    try:
        for _ in range(processes):
            child = SPAWN.Process(
                target=worker, args=(config, threads, barrier, calling, results), daemon=True
            )
            child.start()
            children.append(child)
        deadline = time.monotonic() + JOIN_LIMIT
        while server.count() < 1 or calling.value < processes * threads:
            if time.monotonic() > deadline:
                raise TimeoutError("the processes did not all start calling")
            time.sleep(0.005)
        time.sleep(0.05)
        released = time.perf_counter()
        server.resume()
        outcome = [results.get(timeout=JOIN_LIMIT) for _ in range(processes)]
        seconds = max(done for _, _, done in outcome) - released
        for child in children:
            child.join(JOIN_LIMIT)
    finally:
        server.resume()
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(5)
    tokens = {token for seen, _, _ in outcome for token in seen}
    errors = [error for _, errs, _ in outcome for error in errs]
    served = processes * threads - len(errors)
    return HerdResult(server.count(), processes * threads, served, len(tokens), seconds, errors)


def shared_cache_problem(kind: str) -> str | None:
    """Why the ``file`` or ``redis`` shared cache cannot be benchmarked here, or None."""
    try:
        if kind == "file":
            from imstoken._caches._file import FileCache  # noqa: F401
        else:
            from imstoken._caches._redis import RedisCache  # noqa: F401
    except ImportError as error:
        return f"imstoken's {kind} cache is not available ({error})"
    if kind == "redis":
        try:
            import redis  # noqa: F401
        except ImportError:
            return "the redis package is not installed (pip install imstoken[redis])"
        if shutil.which("redis-server") is None:
            return "redis-server is not on PATH"
    if os.name != "posix":
        return "needs POSIX processes"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway ``redis-server`` on 127.0.0.1 (no persistence); yields its URL."""
    binary = shutil.which("redis-server")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="imstoken-bench-redis-") as directory:
        port = _free_port()
        process = subprocess.Popen(
            [
                binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", directory,
                "--save", "", "--appendonly", "no", "--loglevel", "warning",
                "--logfile", str(Path(directory) / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                if process.poll() is not None:
                    raise RuntimeError("redis-server exited at start")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
