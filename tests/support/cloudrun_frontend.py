"""Cloud Run's front end for tests: one listener per service URL and per tag URL, IAM checked, bytes piped on.

Each listener reads a connection's first request head, asks the emulator whether to admit it and where to send
it, then pipes the connection (HTTP or a WebSocket upgrade) to the revision's container. Shapes:

- A private service answers 403 with Google's HTML page ("Error: Forbidden ... Your client does not have
  permission to get URL /PATH from this server.") unless the request carries a valid ID token: documented by
  users' reports of it, e.g. openillumi.com/en/en-fix-terraform-cloudrun-forbidden, and cloud.google.com/run/docs/
  authenticating/service-to-service.
- The ID token may come in `Authorization: Bearer` or `X-Serverless-Authorization: Bearer` (checked first):
  documented, cloud.google.com/run/docs/authenticating/service-to-service#acquire-token.
- Assumed: a connection is checked once, on its first request (keep-alive requests after it are not).
- Assumed: the service URL routes to the revision with the largest traffic share (the real split is weighted).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

FORBIDDEN_PAGE = """<html><head>
<meta http-equiv="content-type" content="text/html;charset=utf-8">
<title>403 Forbidden</title>
</head>
<body text=#000000 bgcolor=#ffffff>
<h1>Error: Forbidden</h1>
<h2>Your client does not have permission to get URL <code>{path}</code> from this server.</h2>
<h2></h2>
</body></html>
"""


@dataclass(frozen=True)
class Admit:
    """Send the connection on to the container published on 127.0.0.1:port."""

    port: int


@dataclass(frozen=True)
class Refuse:
    """Answer with this status and HTML body, then close."""

    status: int
    reason: str
    body: str


Decision = Admit | Refuse
Decide = Callable[[str, dict[str, str]], Decision]  # (request path, lower-cased headers) -> decision


class FrontEnd:
    """One listening socket on 127.0.0.1; `decide` is asked for every new connection."""

    def __init__(self, decide: Decide) -> None:
        self.decide = decide
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="cloudrun-frontend", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._socket.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.callback(client.close)
            head = _read_head(client)
            if head is None:
                return
            path, headers = _parse_head(head)
            decision = self.decide(path, headers)
            if isinstance(decision, Refuse):
                body = decision.body.encode()
                client.sendall(
                    f"HTTP/1.1 {decision.status} {decision.reason}\r\nContent-Type: text/html; charset=UTF-8\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                return
            upstream = socket.create_connection(("127.0.0.1", decision.port), timeout=10)
            upstream.settimeout(None)
            stack.callback(upstream.close)
            upstream.sendall(head)
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join(timeout=30)


def _read_head(client: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        try:
            chunk = client.recv(4096)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    path = parts[1] if len(parts) > 1 else "/"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return path, headers


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
