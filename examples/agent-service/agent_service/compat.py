"""The one place that knows which websockets API is installed: legacy (10.x-12.x) or asyncio (13+)."""

from __future__ import annotations

import http
import importlib.util
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# websockets 13 added websockets.asyncio; Debian bookworm ships 10.4, which has only the legacy API.
LEGACY_API = importlib.util.find_spec("websockets.asyncio") is None


@dataclass(frozen=True)
class PlainReply:
    """An HTTP answer given instead of the WebSocket upgrade."""

    status: http.HTTPStatus
    body: str


@dataclass(frozen=True)
class Upgrade:
    """What a connection handler needs from the upgrade request, whatever the API."""

    target: str  # path and query string
    authorization: str | None
    subprotocol: str | None  # the one this server selected


class Server(Protocol):
    """A listening websockets server: its sockets, and how to stop it."""

    @property
    def sockets(self) -> Any: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


ConnectionHandler = Callable[[Any, Upgrade], Awaitable[None]]
Router = Callable[[str], PlainReply | None]
SubprotocolChooser = Callable[[Sequence[str]], str | None]
_LegacyResponse = tuple[http.HTTPStatus, list[tuple[str, str]], bytes]
_TEXT = "text/plain; charset=utf-8"


async def start_server(
    handler: ConnectionHandler, router: Router, chooser: SubprotocolChooser, *, host: str, port: int
) -> Server:
    """Listen on host:port; `router` may answer a request over plain HTTP, else `handler` gets the WebSocket."""
    start = _start_legacy if LEGACY_API else _start_asyncio
    return await start(handler, router, chooser, host=host, port=port)


async def _start_asyncio(
    handler: ConnectionHandler, router: Router, chooser: SubprotocolChooser, *, host: str, port: int
) -> Server:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.http11 import Request, Response

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        reply = router(request.path)
        return None if reply is None else connection.respond(reply.status, reply.body)

    async def on_connection(connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None  # set once the handshake succeeded, which it has here
        await handler(connection, Upgrade(request.path, request.headers.get("Authorization"), connection.subprotocol))

    def select(_connection: ServerConnection, offered: Sequence[str]) -> Any:
        return chooser(offered)

    return await serve(on_connection, host, port, process_request=process_request, select_subprotocol=select)


async def _start_legacy(
    handler: ConnectionHandler, router: Router, chooser: SubprotocolChooser, *, host: str, port: int
) -> Server:
    import websockets.legacy.server as legacy
    from websockets.typing import Subprotocol

    async def process_request(target: str, _headers: Any) -> _LegacyResponse | None:
        reply = router(target)
        return None if reply is None else (reply.status, [("Content-Type", _TEXT)], reply.body.encode())

    async def on_connection(ws: Any) -> None:
        await handler(ws, Upgrade(ws.path, ws.request_headers.get("Authorization"), ws.subprotocol))

    def select(offered: Sequence[str], _ours: Sequence[str]) -> Any:
        return chooser(offered)

    # The legacy API asks select_subprotocol only when the server lists some subprotocol of its own.
    server: Server = await legacy.serve(
        on_connection,
        host,
        port,
        process_request=process_request,
        subprotocols=[Subprotocol("jwt")],
        select_subprotocol=select,
    )
    return server
