"""A pytest plugin that runs real ``redis-server`` processes on free loopback ports.

Fixtures: ``redis_server`` (one per session), ``redis_url`` (that server, emptied for each
test) and ``redis_factory`` (more servers for one test: with a password, TLS, or to stop and
restart). A missing ``redis-server`` skips the tests that need it, except under ``CI=true``
where it fails them: CI must not pass by skipping the shared-cache tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One ``redis-server`` on 127.0.0.1, no persistence, data in a temp folder."""

    def __init__(
        self,
        binary: str,
        directory: Path,
        *,
        password: str | None = None,
        tls: tuple[Path, Path, Path] | None = None,  # (certificate, key, CA)
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.password = password
        self.tls = tls
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://`` (or ``rediss://`` with TLS) URL of this server, password included."""
        auth = f":{self.password}@" if self.password else ""
        if self.tls is None:
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls[2]}"

    def start(self, port: int | None = None) -> RedisServer:
        """Start (again, on the same port when given); returns once it answers."""
        for _attempt in range(5):
            self.port = port or _free_port()
            args = [
                self.binary,
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--loglevel", "warning",
                "--logfile", str(self.directory / "redis.log"),
            ]
            if self.tls is None:
                args += ["--port", str(self.port)]
            else:
                cert, key, ca = self.tls
                args += [
                    "--port", "0",
                    "--tls-port", str(self.port),
                    "--tls-cert-file", str(cert),
                    "--tls-key-file", str(key),
                    "--tls-ca-cert-file", str(ca),
                    "--tls-auth-clients", "no",
                ]
            if self.password:
                args += ["--requirepass", self.password]
            self.process = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if self._wait_until_listening():
                return self
            self.stop()
            if port is not None:
                break  # the port we were asked to reuse is taken: do not pick another
        log = self.directory / "redis.log"
        details = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{details}")

    def _wait_until_listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # exited: port in use, or bad options
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.5
            ):
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        """Stop the server (its data is gone: nothing is persisted)."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def redis_server_binary() -> str:
    """Path of ``redis-server``; skip without it, fail under ``CI=true``."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; under CI=true this is a failure, not a skip")
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def redis_server(redis_server_binary: str) -> Iterator[RedisServer]:
    """One redis-server for the whole session."""
    with tempfile.TemporaryDirectory(prefix="imstoken-redis-") as directory:
        server = RedisServer(redis_server_binary, Path(directory)).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, its data emptied before the test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def redis_factory(
    redis_server_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., RedisServer]]:
    """Start extra servers for one test: ``redis_factory(password=..., tls=...)``."""
    started: list[RedisServer] = []

    def start(
        *, password: str | None = None, tls: tuple[Path, Path, Path] | None = None
    ) -> RedisServer:
        directory = tmp_path_factory.mktemp("redis")
        server = RedisServer(redis_server_binary, directory, password=password, tls=tls)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
