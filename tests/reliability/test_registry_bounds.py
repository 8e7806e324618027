"""Tagging by manifest against a hostile registry on 127.0.0.1: a trickle or an endless body hands the tags back to
the engine (which pushes them as before) instead of holding the push phase or filling memory."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from loopctl.phases.docker import registry

MANIFEST = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
DIGEST = f"sha256:{hashlib.sha256(MANIFEST).hexdigest()}"


@contextmanager
def hostile_registry(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A raw TCP server: each connection gets `answer` (run until the client hangs up); yields the repository."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_guarded, args=(answer, connection), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}/app"
    finally:
        stop.set()
        thread.join()
        listener.close()


def _guarded(answer: Callable[[socket.socket], None], connection: socket.socket) -> None:
    with connection:
        try:
            connection.recv(65536)  # the request
            answer(connection)
        except OSError:
            pass  # the client hung up: what it should do


def trickle(connection: socket.socket) -> None:
    """A valid start of an answer, one byte every 0.2 s, for ever: no read ever waits long enough to time out."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nX-Slow: "
    for byte in head:
        connection.sendall(bytes([byte]))
        time.sleep(0.2)
    while True:
        connection.sendall(b"a")
        time.sleep(0.2)


def endless(connection: socket.socket) -> None:
    """A manifest answer whose chunked body never ends."""
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (1 << 16, b"{" * (1 << 16))
    while True:
        connection.sendall(chunk)


@pytest.mark.timeout(60)
def test_a_registry_trickling_bytes_gives_the_tags_back_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "TAG_DEADLINE_S", 2.0)  # the real one is 30 s
    with hostile_registry(trickle) as repository:
        assert registry.tag_by_manifest(repository, DIGEST, ["loopctl-0001", "main"], None) == ["loopctl-0001", "main"]


@pytest.mark.timeout(120)
def test_a_registry_with_an_endless_body_gives_the_tags_back_past_the_size_cap() -> None:
    with hostile_registry(endless) as repository:
        assert registry.tag_by_manifest(repository, DIGEST, ["loopctl-0001"], None) == ["loopctl-0001"]
