"""The loopback HTTP server base shared by ``LocalIMS`` and ``LocalOAuthServer``, and its faults.

:class:`LoopbackServer` runs a ``ThreadingHTTPServer`` in a background thread, answers GET with
405, hands each POST to the subclass's ``_handle``, keeps the registered clients, counts and
records requests, holds answers while paused and queues injected faults (:class:`FaultBase`).
The subclasses speak their protocols.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar
from urllib.parse import parse_qs


def sniff_content_type(body: bytes) -> str:
    """``application/json`` for a body that looks like JSON, else ``text/html`` (a proxy page)."""
    return "application/json" if body[:1] in (b"{", b"[") else "text/html"


@dataclass
class FaultBase:
    """The fields every injected failure has (the subclasses add theirs after these)."""

    status: int = 503
    body: bytes | str | Mapping[str, Any] = b""
    delay: float = 0.0
    retry_after: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def target(self) -> str | None:
        """The request kind (count key) this fault may answer; None for any."""
        return None

    def payload(self) -> bytes:
        """The body as bytes (a mapping is sent as JSON)."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


RecordT = TypeVar("RecordT")
FaultT = TypeVar("FaultT", bound=FaultBase)
ClientT = TypeVar("ClientT")


class LoopbackServer(Generic[RecordT, FaultT, ClientT]):
    """A threaded loopback HTTP server. Use as a context manager, or ``start()`` / ``stop()``.

    ``RecordT`` is what :attr:`requests` holds, ``FaultT`` what :meth:`fail_next` queues and
    ``ClientT`` what the subclass registers by client id. Subclasses implement ``_handle`` (one
    POST) and set the class attributes below.
    """

    _thread_name: ClassVar[str] = "loopback"
    _get_answer: ClassVar[Mapping[str, str]]  # the JSON body of the 405 answer to a GET
    _content_type: ClassVar[str | None] = None  # of every answer; None: sniffed from the body
    _fixed_headers: ClassVar[Mapping[str, str]] = {}  # sent by the default _standard_headers

    def __init__(
        self, *, host: str, port: int, token_lifetime: float, fault_type: type[FaultT]
    ) -> None:
        self.token_lifetime = token_lifetime  # seconds the issued tokens live
        self.requests: list[RecordT] = []
        self.issued: list[str] = []
        self._fault_type = fault_type
        self._clients: dict[str, ClientT] = {}
        self._faults: collections.deque[FaultT] = collections.deque()
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._gate = threading.Event()
        self._gate.set()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The server's base URL, ``http://host:port`` (for ``LocalIMS``: the ``ims_host``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Serve in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},  # so stop() (a shutdown handshake) returns at once
                name=self._thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._stopping.set()
        self._gate.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ setup

    def fail_next(self, count: int = 1, **fault: Any) -> None:
        """Answer the next ``count`` requests with a fault made of ``fault``.

        ``LocalIMS`` makes a ``Fault(**fault)``, ``LocalOAuthServer`` an ``OAuthFault(**fault)``.
        """
        faults = [self._fault_type(**fault) for _ in range(count)]
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        """Drop injected faults that have not fired yet."""
        with self._lock:
            self._faults.clear()

    def pause(self) -> None:
        """Hold every answer (requests are still counted) until :meth:`resume`.

        Lets a test make many callers overlap one in-flight request deterministically.
        """
        self._gate.clear()

    def resume(self) -> None:
        """Release answers held by :meth:`pause`."""
        self._gate.set()

    def reset_counts(self) -> None:
        """Zero the request counters and forget recorded requests."""
        with self._lock:
            self._counts.clear()
            self.requests.clear()

    def _register(self, client_id: str, client: ClientT) -> ClientT:
        with self._lock:
            self._clients[client_id] = client
        return client

    def _unregister(self, client_id: str) -> None:
        with self._lock:
            self._clients.pop(client_id, None)

    def _registered(self, client_id: str) -> ClientT | None:
        with self._lock:
            return self._clients.get(client_id)

    def _all_registered(self) -> list[ClientT]:
        with self._lock:
            return list(self._clients.values())

    def _note_issued(self, token: str) -> None:
        with self._lock:
            self.issued.append(token)

    def _count(self, key: str | None) -> int:
        with self._lock:
            if key is None:
                return sum(self._counts.values())
            return self._counts[key]

    # ------------------------------------------------------------------ HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        # The handler reaches the server only through these two closures.
        def handle_post(handler: BaseHTTPRequestHandler) -> None:
            self._handle(handler)

        def answer_get(handler: BaseHTTPRequestHandler) -> None:
            self._reply(handler, 405, self._get_answer)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet

            def handle(self) -> None:
                try:
                    super().handle()
                except ConnectionError:
                    pass  # the client gave up (a timeout under test): no one to answer

            def do_POST(self) -> None:
                handle_post(self)

            def do_GET(self) -> None:
                answer_get(self)

        return Handler

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def _standard_headers(self) -> dict[str, str]:
        """Headers of every answer, after ``Content-Type`` and ``Content-Length``."""
        return dict(self._fixed_headers)

    @staticmethod
    def _read_form(handler: BaseHTTPRequestHandler) -> tuple[str, dict[str, str]]:
        """The request's path (no query) and its form body (the first value of each name)."""
        path = handler.path.split("?", 1)[0]
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        return path, {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}

    def _receive(self, key: str, record: RecordT) -> FaultT | None:
        """Count and record a request, take the first fault for it, then wait out a pause."""
        with self._lock:
            self._counts[key] += 1
            self.requests.append(record)
            fault = self._take_fault(key)
        self._gate.wait(timeout=60)
        return fault

    def _take_fault(self, key: str) -> FaultT | None:
        for index, fault in enumerate(self._faults):
            if fault.target() in (None, key):
                del self._faults[index]
                return fault
        return None

    @staticmethod
    def _drop(handler: BaseHTTPRequestHandler) -> None:
        """Close the connection without an answer."""
        handler.close_connection = True
        handler.wfile.flush()
        handler.connection.close()

    @staticmethod
    def _fault_headers(fault: FaultBase) -> dict[str, str]:
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        return headers

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header(
            "Content-Type", content_type or self._content_type or sniff_content_type(data)
        )
        handler.send_header("Content-Length", str(len(data)))
        for name, value in self._standard_headers().items():
            handler.send_header(name, value)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
