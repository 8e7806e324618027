"""What every HTTP emulator in tests/support stands on: a ThreadingHTTPServer on 127.0.0.1 served from a daemon
thread (start, close, a context manager) and a quiet request handler that reads bodies and answers in JSON.

The API shapes each emulator keeps to are cited in its own module docstring; nothing here is shaped by an API.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

JSON_UTF8 = "application/json; charset=UTF-8"


class HttpEmulator:
    """An HTTP server on a free port of 127.0.0.1; a subclass calls `_listen` from its constructor and extends
    `close` when it has more to stop (calling `stop_serving` where the order matters)."""

    _server: ThreadingHTTPServer
    _thread: threading.Thread

    def _listen(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop_serving(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def close(self) -> None:
        self.stop_serving()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, bodies by Content-Length, answers with a length, and no access log in the test output."""

    protocol_version = "HTTP/1.1"

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_json(self) -> Any:
        """The request's JSON body, {} when it has none; ValueError when it is not JSON."""
        raw = self.read_body()
        return json.loads(raw) if raw else {}

    def lower_headers(self) -> dict[str, str]:
        return {key.lower(): value for key, value in self.headers.items()}

    def send_json(self, status: int, answer: Any, *, content_type: str = JSON_UTF8) -> None:
        self.send(status, json.dumps(answer).encode(), {"Content-Type": content_type})

    def send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        """The answer, its headers and its length; the payload is left out for HEAD. A client that gave up waiting
        (a timeout test) only closes the connection."""
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # the test output stays quiet
        pass
