"""The extractor on what real servers print when a handler fails: Starlette under uvicorn, aiohttp, websockets, Node.

Each app in tests/fixtures/server_apps/ runs as a subprocess on 127.0.0.1; the test makes its handler fail, reads
what the process wrote, and asks `extract` for the error an engineer would look for first.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from loopctl.evidence.extract import LogLine, extract
from loopctl.records.record import ServerError

APPS = Path(__file__).resolve().parents[1] / "fixtures" / "server_apps"
START_TIMEOUT_S = 20.0
LOG_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def running(command: list[str], port: int) -> Iterator[Callable[[], str]]:
    """Run the app until the block ends; yields a function returning everything it printed so far."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def printed() -> str:
            output.seek(0)
            return output.read()

        try:
            began = time.monotonic()
            while not _listening(port):
                assert process.poll() is None, printed()
                assert time.monotonic() - began < START_TIMEOUT_S, printed()
                time.sleep(0.05)
            yield printed
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def logged_error(printed: Callable[[], str]) -> tuple[ServerError | None, str]:
    """Wait (bounded) until the output holds an error, as loopctl waits for logs; the error and the raw output."""
    began = time.monotonic()
    while True:
        text = printed()
        found = extract([LogLine(line) for line in text.splitlines()])
        if found is not None or time.monotonic() - began > LOG_TIMEOUT_S:
            return found, text
        time.sleep(0.1)


def websocket_message(port: int, message: dict[str, object]) -> int | None:
    """Send one message; the close code the server ended with (None if it answered instead)."""
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5, close_timeout=2) as websocket:
        websocket.send(json.dumps(message))
        try:
            websocket.recv(timeout=5)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


def http_get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, ConnectionError):
        return 0  # the process died before answering (Node's uncaught exception)


def test_starlette_under_uvicorn_websocket_handler_keyerror() -> None:
    port = free_port()
    with running([sys.executable, str(APPS / "starlette_app.py"), str(port)], port) as printed:
        assert websocket_message(port, {"content": "hello"}) in (1011, None)  # uvicorn may drop without a frame
        error, text = logged_error(printed)
    assert error is not None, text
    assert (error.type, error.message, error.location) == (
        "KeyError",
        "'text'",
        "fixtures/server_apps/starlette_app.py:12",
    )
    assert "Exception in ASGI application" in error.lines[0]
    assert error.lines[-1] == "KeyError: 'text'"
    assert any("uvicorn" in line for line in error.lines)  # the framework's frames stay in the excerpt


def test_aiohttp_handler_keyerror() -> None:
    port = free_port()
    with running([sys.executable, str(APPS / "aiohttp_app.py"), str(port)], port) as printed:
        assert http_get(port, "/chat?content=hello") == 500
        error, text = logged_error(printed)
    assert error is not None, text
    assert (error.type, error.message, error.location) == (
        "KeyError",
        "'text'",
        "fixtures/server_apps/aiohttp_app.py:10",
    )
    assert "Error handling request" in error.lines[0]


def test_websockets_handler_keyerror() -> None:
    port = free_port()
    with running([sys.executable, str(APPS / "websockets_app.py"), str(port)], port) as printed:
        assert websocket_message(port, {"content": "hello"}) == 1011
        error, text = logged_error(printed)
    assert error is not None, text
    location = "fixtures/server_apps/websockets_app.py:12"
    assert (error.type, error.message, error.location) == ("KeyError", "'text'", location)
    assert "connection handler failed" in error.lines[0]


def test_node_uncaught_type_error() -> None:
    port = free_port()
    with running(["node", str(APPS / "node_app.js"), str(port)], port) as printed:
        http_get(port, "/chat")
        error, text = logged_error(printed)
    assert error is not None, text
    assert error.type == "TypeError"
    assert error.message.startswith("Cannot read properties of undefined (reading 'text')")
    assert error.location == "fixtures/server_apps/node_app.js:5"
    assert error.lines[0].endswith("node_app.js:5")  # Node's own `file:line` and caret above the error are kept
    assert any(line.strip().startswith("at ") for line in error.lines)


def test_a_service_that_logs_nothing_has_no_error() -> None:
    port = free_port()
    with running([sys.executable, str(APPS / "silent_app.py"), str(port)], port) as printed:
        assert websocket_message(port, {"content": "hello"}) == 1011
        text = printed()
    assert extract([LogLine(line) for line in text.splitlines()]) is None
