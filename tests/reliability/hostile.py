"""One hostile server on 127.0.0.1, a mode per way a server can hang, flood, leak or inject: the path picks the mode.

http://HOST/slowloris      answers one byte a second, for ever
http://HOST/echo-token     401 whose body repeats the Authorization header and the query, past a 200-char cut
http://HOST/hostile        500 whose body is HOSTILE (escape sequences, markdown, HTML, Rich markup, XML-forbidden)
ws://HOST/echo-token       the same 401, at the upgrade
ws://HOST/hostile          an event named HOSTILE_EVENT, then a close 1011 with HOSTILE_REASON
ws://HOST/endless          events for ever, none of them expected
ws://HOST/flood            1 MB events for ever
ws://HOST/many?n=N         `start`, N `tick` events, `done` (&mid=NAME: NAME amid the ticks; &end=NAME: NAME last)
ws://HOST/deep             a frame nested 100,000 deep, then `done`
ws://HOST/refuse          a close as the server's answer (&code=1008, &after=SECONDS: how long it thinks first)
ws://HOST/quiet           says nothing, and keeps the connection open
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.wsservers import close_frame, frame, tcp_server, upgrade_response

# Everything a terminal, a markdown renderer, Rich or an XML parser could take for an instruction.
HOSTILE = (
    "\x1b[2J\x1b]0;owned\x07 \x9b31m\n# Owned heading\n```\n</code><script>alert(1)</script>"
    " [/] [bold red]red[/bold red] ]]> &amp; | `tick` ~~~ <!-- \x00\x08\x0b\x0c\ufffe\u202eevil"
)
# A close reason holds at most 123 bytes of UTF-8.
HOSTILE_REASON = "\x1b[2J\x1b]0;x\x07\n# Owned\n```<img src=x onerror=y>[/][b]b[/b]]]>\x00\x08`|\u202e"
# An event name may carry what UTF-8 cannot: a lone surrogate, via JSON's \ud800 escape.
HOSTILE_EVENT = "evil\x1b[?1049h\n## Owned <b>x</b> [/] ```\x00\ud800"
# Markers that survive only if the text was taken as markup: none of them may reach any output.
INSTRUCTIONS = ("\x1b[2J", "\x1b]0;", "\x1b[?1049h", "\x9b31m", "\x07", "\x00", "\ufffe", "\u202e")

FLOOD_NAME_LENGTH = 1_000_000  # with the JSON around it, just under the probe's 1 MiB frame limit
DEEP = 100_000
_SLOW_BYTE_S = 1.0

Mode = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Request"], Awaitable[None]]


class Request:
    """The head of a request: its path, query and headers (names lowercased)."""

    def __init__(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
        self.head = head
        self.target = target
        parts = urlsplit(target)
        self.path = parts.path
        self.query = parse_qs(parts.query)
        self.headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }

    @property
    def websocket(self) -> bool:
        return self.headers.get("upgrade", "").lower() == "websocket"


@contextmanager
def hostile_server() -> Iterator[str]:
    """Yields `127.0.0.1:PORT`; every connection gets the mode its path names."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = Request(await reader.readuntil(b"\r\n\r\n"))
        kind = "ws" if request.websocket else "http"
        mode = MODES.get((kind, request.path))
        if mode is None:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        await mode(reader, writer, request)

    with tcp_server(on_connect) as port:
        yield f"127.0.0.1:{port}"


# ----------------------------------------------------------------------------- HTTP modes


async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    """A status line, then a header that never ends, one byte a second: no read ever times out."""
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: ":
        writer.write(bytes([byte]))
        await writer.drain()
    while True:
        await asyncio.sleep(_SLOW_BYTE_S)
        writer.write(b"a")
        await writer.drain()


def echo_body(request: Request) -> str:
    """What the client sent to authenticate, placed so that a 200-character cut would split a token in it."""
    said = request.headers.get("authorization", "") + " " + unquote(request.target) + " " + request.target
    return "x" * 170 + " you sent: " + said


async def echo_token(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _answer(writer, 401, "Unauthorized", echo_body(request))


async def hostile_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _answer(writer, 500, "Internal Server Error", HOSTILE)


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str, body: str) -> None:
    payload = body.encode("utf-8", "surrogatepass")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(payload)}\r\n"
    writer.write(head.encode() + b"Connection: close\r\n\r\n" + payload)
    await writer.drain()


# ----------------------------------------------------------------------------- WebSocket modes


def event(name: str, **extra: object) -> bytes:
    return frame(0x1, json.dumps({"type": name, **extra}).encode())


async def _upgraded(writer: asyncio.StreamWriter, request: Request) -> None:
    writer.write(upgrade_response(request.head))
    await writer.drain()


async def _until_gone(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def hostile_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _upgraded(writer, request)
    writer.write(event("hello") + event(HOSTILE_EVENT) + event(HOSTILE))
    writer.write(frame(0x8, struct.pack("!H", 1011) + HOSTILE_REASON.encode()))
    await writer.drain()
    await _until_gone(reader)


async def echo_events(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _upgraded(writer, request)
    writer.write(event(request.headers.get("authorization", "none")) + close_frame(1000, b"bye"))
    await writer.drain()
    await _until_gone(reader)


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _upgraded(writer, request)
    batch = b"".join(event("tick", n=n) for n in range(100))
    while True:
        writer.write(batch)
        await writer.drain()


async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _upgraded(writer, request)
    big = event("x" * FLOOD_NAME_LENGTH)
    while True:
        writer.write(big)
        await writer.drain()


async def many(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _upgraded(writer, request)
    count = int(request.query.get("n", ["100000"])[0])
    middle = request.query.get("mid", [])
    writer.write(event("start"))
    tick = event("tick")
    for start in range(0, count, 1000):
        batch = min(1000, count - start)
        writer.write(tick * (batch // 2) + b"".join(event(name) for name in middle) + tick * (batch - batch // 2))
        middle = []
        await writer.drain()
    writer.write(event(request.query.get("end", ["done"])[0]))
    await writer.drain()
    await _until_gone(reader)


async def deep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _upgraded(writer, request)
    writer.write(frame(0x1, b"[" * DEEP + b"]" * DEEP) + frame(0x1, b'{"type": ' + b"[" * DEEP + b"]" * DEEP + b"}"))
    writer.write(event("done") + close_frame(1000, b"bye"))
    await writer.drain()
    await _until_gone(reader)


REFUSAL = "Authentication failed"


async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    """An auth middleware that accepts the upgrade, then answers with a close (Starlette's `close(1008)` after
    `accept()` does this)."""
    await _upgraded(writer, request)
    await asyncio.sleep(float(request.query.get("after", ["0"])[0]))
    writer.write(close_frame(int(request.query.get("code", ["1008"])[0]), REFUSAL.encode()))
    await writer.drain()
    await _until_gone(reader)


async def quiet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request) -> None:
    await _upgraded(writer, request)
    await _until_gone(reader)


MODES: dict[tuple[str, str], Mode] = {
    ("http", "/slowloris"): slowloris,
    ("http", "/echo-token"): echo_token,
    ("http", "/hostile"): hostile_body,
    ("ws", "/echo-token"): echo_token,
    ("ws", "/echo-events"): echo_events,
    ("ws", "/hostile"): hostile_stream,
    ("ws", "/endless"): endless,
    ("ws", "/flood"): flood,
    ("ws", "/many"): many,
    ("ws", "/deep"): deep,
    ("ws", "/refuse"): refuse,
    ("ws", "/quiet"): quiet,
}
