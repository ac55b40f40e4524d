"""A pytest plugin that runs real ``redis-server`` processes on free loopback ports.

Fixtures: ``redis_server`` (one per session), ``redis_url`` (that server, emptied for each
test), ``redis_factory`` (more servers for one test: with a password, TLS, or to stop and
restart), ``redis_cluster`` (three cluster masters) and ``redis_sentinels`` (a master, a replica
and three Sentinels, with short failover timeouts). A missing ``redis-server`` skips the tests
that need it, except under ``CI=true`` where it fails them: CI must not pass by skipping the
shared-cache tests. Sentinels run as ``redis-server <conf> --sentinel`` (the same binary).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (nothing listens there)."""
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
        extra_args: Callable[[], list[str]] = list,  # called at each start: may pick ports
        config_file: Callable[[], Path] | None = None,  # written at each start, passed first
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.password = password
        self.tls = tls
        self.extra_args = extra_args
        self.config_file = config_file
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
            self.port = port or free_port()
            first = [str(self.config_file())] if self.config_file else []
            args = [
                self.binary,
                *first,
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
            args += self.extra_args()
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

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (its data is gone: nothing is persisted); ``kill``: SIGKILL."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            if kill:
                process.kill()
            else:
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


def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` (errors count as "not yet") until it holds; RuntimeError after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if condition():
                return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class RedisClusterSet:
    """Three Redis Cluster masters on loopback, slots split evenly, no replicas."""

    SLOTS = ((0, 5460), (5461, 10922), (10923, 16383))

    def __init__(self, binary: str, directory: Path) -> None:
        self.bus_ports = [0, 0, 0]  # the cluster bus port of each node (CLUSTER MEET needs it)
        self.nodes = [
            RedisServer(
                binary,
                _mkdir(directory / f"node{index}"),
                extra_args=lambda index=index: self._node_args(directory, index),
            )
            for index in range(3)
        ]

    def _node_args(self, directory: Path, index: int) -> list[str]:
        # The bus port is free, not port + 10000 (which may be above 65535).
        self.bus_ports[index] = free_port()
        return [
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(directory / f"node{index}" / "nodes.conf"),
            "--cluster-port", str(self.bus_ports[index]),
            "--cluster-node-timeout", "2000",
        ]

    @property
    def url(self) -> str:
        """``redis+cluster://`` URL naming every node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> RedisClusterSet:
        """Start the nodes, assign the slots, join them; returns once the cluster is ok."""
        import redis

        for node in self.nodes:
            node.start()
        clients = [redis.Redis(port=node.port) for node in self.nodes]
        try:
            for client, (first, last) in zip(clients, self.SLOTS, strict=True):
                client.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
            for node, bus_port in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                clients[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port, bus_port)
            for client in clients:
                _until(
                    lambda client=client: client.execute_command("CLUSTER INFO")["cluster_state"]
                    == "ok",
                    "the cluster to be ok",
                )
        finally:
            for client in clients:
                client.close()
        return self

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


class RedisSentinelSet:
    """A master, its replica and three Sentinels watching them as ``mymaster`` (quorum 2)."""

    SERVICE = "mymaster"

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.master = RedisServer(binary, _mkdir(directory / "master"))
        self.replica = RedisServer(
            binary,
            _mkdir(directory / "replica"),
            extra_args=lambda: ["--replicaof", "127.0.0.1", str(self.master.port)],
        )
        self.sentinels: list[RedisServer] = []

    @property
    def url(self) -> str:
        """``redis+sentinel://`` URL naming every Sentinel, the service and database 0."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def start(self) -> RedisSentinelSet:
        """Start master, replica (in sync) and Sentinels (knowing each other and the replica)."""
        import redis

        self.master.start()
        self.replica.start()
        replica = redis.Redis(port=self.replica.port)
        try:
            _until(
                lambda: replica.info("replication")["master_link_status"] == "up",
                "the replica to sync",
            )
        finally:
            replica.close()
        for index in range(3):
            folder = _mkdir(self.directory / f"sentinel{index}")
            sentinel = RedisServer(
                self.binary,
                folder,
                extra_args=lambda: ["--sentinel"],
                config_file=lambda f=folder: self._conf(f),
            )
            self.sentinels.append(sentinel.start())
        for sentinel in self.sentinels:
            client = redis.Redis(port=sentinel.port, decode_responses=True)
            try:
                _until(
                    lambda client=client: self._sees_all(client),
                    "the Sentinels to find each other and the replica",
                )
            finally:
                client.close()
        return self

    def _conf(self, folder: Path) -> Path:
        # A sentinel needs a writable config file as its first argument; the port that
        # RedisServer adds on the command line overrides the file's.
        conf = folder / "sentinel.conf"
        conf.write_text(
            "protected-mode no\n"
            f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
            f"sentinel failover-timeout {self.SERVICE} 4000\n"
            f"sentinel parallel-syncs {self.SERVICE} 1\n"
        )
        return conf

    def _sees_all(self, client: Any) -> bool:
        state = client.execute_command("SENTINEL MASTER", self.SERVICE)
        if isinstance(state, list):  # a flat name, value, name, value… reply
            state = dict(zip(state[::2], state[1::2], strict=True))
        return int(state["num-other-sentinels"]) == 2 and int(state["num-slaves"]) == 1

    def master_port(self, sentinel: int = 0) -> int:
        """The port of the master that Sentinel number ``sentinel`` names now."""
        import redis

        client = redis.Redis(port=self.sentinels[sentinel].port, decode_responses=True)
        try:
            _host, port = client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", self.SERVICE)
        finally:
            client.close()
        return int(port)

    def kill_master(self) -> None:
        """SIGKILL the master (no shutdown, no goodbye to the replica)."""
        self.master.stop(kill=True)

    def wait_for_failover(self) -> None:
        """Return once the Sentinels name the replica as master and it accepts writes."""
        import redis

        # Every Sentinel, not just one: a client may ask any of them.
        for index in range(len(self.sentinels)):
            _until(lambda i=index: self.master_port(i) == self.replica.port, "the failover")
        client = redis.Redis(port=self.replica.port, decode_responses=True)
        try:
            _until(lambda: client.info("replication")["role"] == "master", "the promotion")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop every process."""
        for server in [*self.sentinels, self.replica, self.master]:
            server.stop()


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def redis_cluster(
    redis_server_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisClusterSet]:
    """Three Redis Cluster masters for one test."""
    cluster = RedisClusterSet(redis_server_binary, tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def redis_sentinels(
    redis_server_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisSentinelSet]:
    """A master, a replica and three Sentinels for one test."""
    sentinels = RedisSentinelSet(redis_server_binary, tmp_path_factory.mktemp("sentinel"))
    try:
        yield sentinels.start()
    finally:
        sentinels.stop()


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("imstoken test CA"))
        .issuer_name(name("imstoken test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "server.crt", folder / "server.key", folder / "ca.crt"
    paths[0].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths
