"""A loopback stand-in for an Adobe API, so the examples send real requests.

It answers 200 only to a request whose ``Authorization: Bearer`` token the local IMS issued,
and counts the requests it answered. Not part of imstoken: the examples' own helper.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from imstoken.testing import LocalIMS


class LocalAPI:
    """``with LocalAPI(ims) as api: api.url``: accepts the tokens ``ims`` issued."""

    def __init__(self, ims: LocalIMS) -> None:
        self.ims = ims
        self.answered = 0
        self.refused = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                ok = token in api.ims.issued and bool(self.headers.get("x-api-key"))
                with api.lock:
                    if ok:
                        api.answered += 1
                    else:
                        api.refused += 1
                body = json.dumps({"ok": ok}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalAPI:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
