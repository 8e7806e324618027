"""Real servers on 127.0.0.1 (port 0) for each way a probe can end, run in a background thread."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

Handler = Callable[[ServerConnection], Awaitable[None]]
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

GFE_403_BODY = (
    '<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n'
    "<title>403 Forbidden</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n"
    "<h1>Error: Forbidden</h1>\n<h2>Your client does not have permission to get URL <code>/ws</code>"
    " from this server.</h2>\n<h2></h2>\n</body></html>\n"
)


class _LoopThread:
    """An event loop in a daemon thread, so synchronous tests can run real async servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def event(name: str) -> str:
    return json.dumps({"type": name, "data": {}})


@contextmanager
def websocket_server(
    handler: Handler,
    *,
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    **options: Any,
) -> Iterator[int]:
    """A websockets server running `handler` for every connection; yields its port."""
    runner = _LoopThread()

    async def start() -> Any:
        return await serve(handler, "127.0.0.1", 0, process_request=process_request, ssl=ssl_context, **options)

    server = runner.run(start())
    try:
        yield server.sockets[0].getsockname()[1]
    finally:

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        runner.run(stop())
        runner.stop()


@contextmanager
def tcp_server(on_connect: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> Iterator[int]:
    """A raw TCP server, for behaviours no WebSocket library will produce on purpose."""
    runner = _LoopThread()
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with suppress(ConnectionError, asyncio.IncompleteReadError):
            await on_connect(reader, writer)

    async def start() -> asyncio.Server:
        return await asyncio.start_server(handle, "127.0.0.1", 0)

    server = runner.run(start())
    try:
        yield server.sockets[0].getsockname()[1]
    finally:

        async def stop() -> None:
            server.close()
            for writer in writers:
                writer.transport.abort()

        runner.run(stop())
        runner.stop()


async def accept_upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer a WebSocket upgrade by hand (RFC 6455 section 4.2.2)."""
    request = await reader.readuntil(b"\r\n\r\n")
    writer.write(upgrade_response(request))
    await writer.drain()


def upgrade_response(request: bytes) -> bytes:
    """The 101 answer to an upgrade request (its head, as read), with the accept key RFC 6455 derives."""
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + _GUID.encode()).digest()).decode()
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )


def frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server-to-client frame."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def close_frame(code: int | None, reason: bytes = b"") -> bytes:
    return frame(0x8, b"" if code is None else struct.pack("!H", code) + reason)


def scripted(frames: Sequence[bytes], *, then: str = "wait") -> Callable[..., Awaitable[None]]:
    """A raw server that upgrades, writes `frames`, then waits, goes silent, or aborts the TCP connection."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        for raw in frames:
            writer.write(raw)
        await writer.drain()
        if then == "abort":
            writer.transport.abort()
            return
        # Keep reading (and ignoring) whatever the client sends until it goes away.
        while await reader.read(65536):
            pass

    return on_connect
