"""Routes, the /ws connection handler, and serving until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import functools
import http
import logging
import signal
import time
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed

from .auth import choose_subprotocol, token_from, token_problem
from .compat import PlainReply, Server, Upgrade, start_server
from .conversation import converse
from .settings import Fault, Settings

POLICY_VIOLATION = 1008
log = logging.getLogger("agent_service")


def route(target: str, *, fault: Fault | None) -> PlainReply | None:
    """A plain HTTP answer for `target`, or None to go on with the WebSocket upgrade."""
    path = urlsplit(target).path
    if path == "/health":
        return PlainReply(http.HTTPStatus.OK, "ok")
    if path != "/ws":
        return PlainReply(http.HTTPStatus.NOT_FOUND, "not found")
    if fault is Fault.HANDSHAKE403:
        return PlainReply(http.HTTPStatus.FORBIDDEN, "")  # the app refusing: empty, unlike an IAM proxy's page
    return None


async def handle(connection: Any, upgrade: Upgrade, *, settings: Settings) -> None:
    """Authenticate the upgraded connection, then converse; a closed connection just ends it."""
    try:
        if not authenticated(upgrade, settings):
            # Real backends accept the upgrade first, then close: the client sees 1008, not an HTTP 401.
            await connection.close(POLICY_VIOLATION, "Authentication failed")
            return
        await converse(connection, settings)
    except ConnectionClosed:
        pass


def authenticated(upgrade: Upgrade, settings: Settings) -> bool:
    """Whether the upgrade carried a valid token (never, under FAULT=auth)."""
    if settings.fault is Fault.AUTH:
        log.info("rejected connection: FAULT=auth")
        return False
    token = token_from(authorization=upgrade.authorization, subprotocol=upgrade.subprotocol, target=upgrade.target)
    problem = token_problem(token, settings.jwt_secret, now=time.time())
    if problem is not None:
        log.info("rejected connection: %s", problem)
    return problem is None


async def serve_until_stopped(settings: Settings) -> None:
    """Serve, print `listening on HOST:PORT` once, and shut down cleanly on SIGTERM or SIGINT."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    server = await start_server(
        functools.partial(handle, settings=settings),
        functools.partial(route, fault=settings.fault),
        choose_subprotocol,
        host=settings.host,
        port=settings.port,
    )
    print(f"listening on {settings.host}:{bound_port(server)}", flush=True)
    await stopping.wait()
    server.close()
    await server.wait_closed()


def bound_port(server: Server) -> int:
    """The port the server really listens on (PORT=0 lets the kernel choose)."""
    port: int = next(iter(server.sockets)).getsockname()[1]
    return port
