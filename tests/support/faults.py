"""An HTTP/1.1 fault-injecting proxy on 127.0.0.1 in front of a real server (a registry): pass, fail, cut, go down."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BufferedReader
from types import TracebackType

Matcher = Callable[[str, str], bool]
_COPY_CHUNK = 64 * 1024
_NO_BODY_STATUSES = {204, 304}
_TLS_HANDSHAKE = b"\x16"


def any_request(method: str, path: str) -> bool:
    return True


def blob_upload_start(method: str, path: str) -> bool:
    """`POST /v2/<name>/blobs/uploads/`: a registry client starting to upload a layer."""
    return method == "POST" and "/blobs/uploads" in path


def manifest_put(method: str, path: str) -> bool:
    """`PUT /v2/<name>/manifests/<tag>`: the last step of a push, after every layer is uploaded."""
    return method == "PUT" and "/manifests/" in path


def manifest_lookup(method: str, path: str) -> bool:
    """`GET`/`HEAD /v2/<name>/manifests/<ref>`: someone asking what a tag points at."""
    return method in ("GET", "HEAD") and "/manifests/" in path


@dataclass(frozen=True)
class Seen:
    """One request the proxy saw, and what became of it: a status, `cut`, or `down`."""

    method: str
    path: str
    outcome: str


@dataclass
class _Rule:
    action: str  # "fail" | "cut" | "down_after"
    matcher: Matcher
    remaining: int
    status: int = 500


@dataclass
class _State:
    rules: list[_Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    sockets: set[socket.socket] = field(default_factory=set)
    down: bool = False


class FaultProxy:
    """Forwards each request to `upstream` unless a rule says to answer it with an error, cut it, or go down."""

    def __init__(self, upstream_port: int, *, on_down: Callable[[], None] | None = None) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.on_down = on_down
        self._lock = threading.Lock()
        self._state = _State()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._state.seen)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def fail_next(self, status: int = 500, count: int = 1, *, when: Matcher = any_request) -> None:
        """The next `count` matching requests are answered `status` (plain text body) and their connection closed."""
        self._add(_Rule("fail", when, count, status))

    def cut_next(self, count: int = 1, *, when: Matcher = any_request) -> None:
        """The next `count` matching requests get no answer: their connection is closed under them."""
        self._add(_Rule("cut", when, count))

    def go_down_at(self, when: Matcher) -> None:
        """The first matching request is cut and the proxy goes down: as if the server behind it stopped."""
        self._add(_Rule("down_after", when, 1))

    def go_down(self) -> None:
        """Stop listening (new connections are refused) and abort every open connection."""
        with self._lock:
            if self._state.down:
                return
            self._state.down = True
            doomed = list(self._state.sockets)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in doomed:
            _abort(sock)
        if self.on_down is not None:
            self.on_down()

    def close(self) -> None:
        self.go_down()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- serving ---------------------------------------------------------------------------------

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._state.rules.append(rule)

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._track(client):
                _abort(client)
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._state.down:
                return False
            self._state.sockets.add(sock)
            return True

    def _rule_for(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._state.rules:
                if rule.remaining > 0 and rule.matcher(method, path):
                    rule.remaining -= 1
                    return rule
            return None

    def _note(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self._state.seen.append(Seen(method, path, outcome))

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            upstream = socket.create_connection(self.upstream, timeout=60)  # refused: the client sees EOF
            if not self._track(upstream):
                return
            with client.makefile("rb") as reader, upstream.makefile("rb") as upstream_reader:
                while self._exchange(client, reader, upstream, upstream_reader):
                    pass
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    self._untrack(sock)
                    _abort(sock)

    def _exchange(
        self, client: socket.socket, reader: BufferedReader, upstream: socket.socket, upstream_reader: BufferedReader
    ) -> bool:
        """One request: injected fault or passed through. True while the connection may carry another."""
        if reader.peek(1)[:1] == _TLS_HANDSHAKE:
            # A client trying TLS first (the engine does, then falls back to HTTP): refuse at once.
            client.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nthis proxy speaks plain HTTP only\n")
            return False
        head = _read_head(reader)
        if head is None:
            return False
        method, path = _request_line(head)
        rule = self._rule_for(method, path)
        if rule is None:
            status, reusable = _forward(head, method, reader, client, upstream, upstream_reader)
            self._note(method, path, str(status))
            return reusable
        if rule.action == "fail":
            self._note(method, path, str(rule.status))
            client.sendall(_error_response(rule.status))
        elif rule.action == "cut":
            self._note(method, path, "cut")
        else:
            self._note(method, path, "down")
            self.go_down()
        return False

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._state.sockets.discard(sock)


def _read_head(reader: BufferedReader) -> bytes | None:
    lines: list[bytes] = []
    while True:
        line = reader.readline(65536)
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if not lines:
                continue
            return b"".join([*lines, line])
        lines.append(line)


def _request_line(head: bytes) -> tuple[str, str]:
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    return (parts[0], parts[1]) if len(parts) >= 2 else ("?", "?")


def _headers(head: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = value.strip()
    return found


def _forward(
    head: bytes,
    method: str,
    reader: BufferedReader,
    client: socket.socket,
    upstream: socket.socket,
    upstream_reader: BufferedReader,
) -> tuple[int, bool]:
    """One request through: its head and body upstream, the answer back. Returns (status, connection reusable)."""
    upstream.sendall(head)
    _copy_body(_headers(head), reader, upstream, until_eof=False)
    answer = _read_head(upstream_reader)
    if answer is None:
        raise ConnectionError("upstream closed without answering")
    client.sendall(answer)
    status = int(answer.split(b" ", 2)[1])
    headers = _headers(answer)
    if method != "HEAD" and status not in _NO_BODY_STATUSES and status >= 200:
        delimited = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        _copy_body(headers, upstream_reader, client, until_eof=not delimited)
        if not delimited:
            return status, False
    return status, headers.get("connection", "").lower() != "close"


def _copy_body(headers: dict[str, str], source: BufferedReader, target: socket.socket, *, until_eof: bool) -> None:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        _copy_chunked(source, target)
    elif "content-length" in headers:
        _copy_exact(source, target, int(headers["content-length"]))
    elif until_eof:
        while chunk := source.read1(_COPY_CHUNK):
            target.sendall(chunk)


def _copy_exact(source: BufferedReader, target: socket.socket, length: int) -> None:
    while length > 0:
        chunk = source.read1(min(length, _COPY_CHUNK))
        if not chunk:
            raise ConnectionError("peer closed in the middle of a body")
        target.sendall(chunk)
        length -= len(chunk)


def _copy_chunked(source: BufferedReader, target: socket.socket) -> None:
    while True:
        size_line = source.readline(1024)
        if not size_line:
            raise ConnectionError("peer closed in the middle of a chunked body")
        target.sendall(size_line)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (trailer := source.readline(65536)) not in (b"\r\n", b"\n", b""):
                target.sendall(trailer)
            target.sendall(b"\r\n")
            return
        _copy_exact(source, target, size + 2)  # the chunk and its CRLF


def _error_response(status: int) -> bytes:
    # Plain text, not the registry's JSON error shape: what a load balancer in front of a registry sends.
    body = f"fault injected by the test proxy: HTTP {status}\n".encode()
    head = (
        f"HTTP/1.1 {status} Injected Fault\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _abort(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
