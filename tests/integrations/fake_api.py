"""A loopback fake of the Adobe APIs the SDKs call, strict about the token headers.

Every request except the PDF Services upload (a pre-signed URL, no token) must carry
``Authorization: Bearer <token>`` for a token the local IMS issued, an ``x-api-key`` equal to
the token's ``client_id`` and, where the SDK sends one, an ``x-gw-ims-org-id`` equal to its
org. A token is refused once ``lifetime`` seconds have passed on ``clock`` since the fake
first saw it: a test that moves the clock past a token's life sees the SDK's stale tokens
fail. Answers carry every field the SDK code under test reads (one body fits all).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from imstoken.testing import LocalIMS, decode_access_token

from ..api_server import LoopbackServer


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    status: int
    problem: str | None


class FakeAdobeApi(LoopbackServer):
    def __init__(
        self,
        ims: LocalIMS,
        *,
        clock: Callable[[], float] = time.time,
        lifetime: float | None = None,
        require_org: bool = True,
    ) -> None:
        self.ims = ims
        self.clock = clock
        self.lifetime = ims.token_lifetime if lifetime is None else lifetime
        self.require_org = require_org
        self.calls: list[Call] = []
        self.first_seen: dict[str, float] = {}
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body = api.answer(self.command, self.path, headers)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-request-id", "fake")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = serve

        self.serve(Handler)

    # ------------------------------------------------------------------ checks

    def problem(self, headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return "no bearer token"
        token = auth[7:]
        if token not in self.ims.issued:
            return "a token the IMS never issued"
        claims = decode_access_token(token)
        if headers.get("x-api-key") != claims.get("client_id"):
            return "x-api-key is not the token's client"
        if self.require_org and headers.get("x-gw-ims-org-id") != claims.get("org"):
            return "x-gw-ims-org-id is not the token's org"
        now = self.clock()
        with self.lock:
            first = self.first_seen.setdefault(token, now)
        if now - first >= self.lifetime:
            return "expired token"
        return None

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        upload = method == "PUT" and path.startswith("/upload/")  # pre-signed: no token
        problem = None if upload else self.problem(headers)
        status = 200 if problem is None else 401
        with self.lock:
            self.calls.append(Call(method, path, headers, status, problem))
        if problem is not None:
            return 401, {"error_code": "401013", "message": f"Oauth token is not valid: {problem}"}
        if method == "DELETE":
            return 204, None
        return 200, {
            "result": "success",
            "completed": 1,
            "user": {"email": "user@example.com"},
            "users": [],
            "groups": [],
            "lastPage": True,
            "sandboxes": [{"name": "prod"}],
            "content": [],
            "imsOrgs": [],
            "assetID": "urn:aaid:fake",
            "uploadUri": f"{self.url}/upload/asset",
        }

    # ------------------------------------------------------------------ figures

    def authenticated(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if not c.path.startswith("/upload/")]

    def failures(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.status != 200]

    def tokens(self) -> list[str]:
        """The distinct tokens the API saw, in order of first use."""
        seen: dict[str, None] = {}
        for call in self.authenticated():
            seen.setdefault(call.headers.get("authorization", "")[7:], None)
        return list(seen)

    def clients(self) -> set[str]:
        return {c.headers.get("x-api-key", "") for c in self.authenticated()}


@pytest.fixture
def api_for() -> Iterator[Callable[..., FakeAdobeApi]]:
    made: list[FakeAdobeApi] = []

    def make(ims: LocalIMS, **kwargs: Any) -> FakeAdobeApi:
        api = FakeAdobeApi(ims, **kwargs)
        made.append(api)
        return api

    yield make
    for api in made:
        api.stop()
