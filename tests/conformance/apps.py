"""The same WebSocket service written with Starlette, FastAPI and aiohttp, one route per way a session can end.

Run as `python -m tests.conformance.apps FRAMEWORK BACKEND PORT`: the process prints `ready` once it listens,
and `session` once a lingering session got its first event, so the suite can send it SIGTERM mid-session like a
platform scaling down.

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at runtime.
"""

import asyncio
import json
import sys
from typing import Any

EVENTS = ["agent_started", "agent_thinking", "agent_completed"]
MAX_MESSAGE = 64 * 1024  # the server's own limit: the oversized scenario sends more
# The app's own error event (the shape FastAPI agent apps send from an `except`), then it keeps the session open.
APP_ERROR = {"type": "error", "message": "tool weather failed: KeyError 'city'", "code": "tool_failed"}
# A release that renamed two events: the stream goes on, under names the check does not expect.
RENAMED = ["agent_started", "tool_output", "done"]


def event(name: str) -> str:
    return json.dumps({"type": name})


def routes(
    happy: Any, auth_before: Any, auth_after: Any, crash: Any, linger: Any, silent: Any, oversized: Any, **more: Any
) -> dict[str, Any]:
    """The paths the suite probes, one per way a session ends: every framework serves the same ones."""
    return {
        "/ws": happy,
        "/auth-before": auth_before,
        "/auth-after": auth_after,
        "/crash": crash,
        "/linger": linger,
        "/silent": silent,
        "/oversized": oversized,
        "/app-error": more["app_error"],
        "/renamed": more["renamed"],
    }


def starlette_app(*, fastapi: bool) -> Any:
    """Starlette routes (or a FastAPI app with the same endpoints)."""
    from starlette.websockets import WebSocket

    async def happy(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        for name in EVENTS:
            await websocket.send_text(event(name))
        await websocket.close()

    async def auth_before(websocket: WebSocket) -> None:
        await websocket.close(code=1008)  # before accept: the server answers the upgrade with 403

    async def auth_after(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(code=1008, reason="Authentication failed")

    async def crash(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.send_text(event(EVENTS[0]))
        raise RuntimeError("handler bug after the first event")

    async def linger(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.send_text(event(EVENTS[0]))
        print("session", flush=True)  # the suite sends SIGTERM once it reads this
        await asyncio.sleep(3600)

    async def silent(websocket: WebSocket) -> None:
        await websocket.accept()
        await asyncio.sleep(3600)

    async def oversized(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    async def app_error(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.send_text(event(EVENTS[0]))
        await websocket.send_text(json.dumps(APP_ERROR))
        await asyncio.sleep(3600)

    async def renamed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        for name in RENAMED:
            await websocket.send_text(event(name))
        await websocket.close()

    endpoints = routes(
        happy, auth_before, auth_after, crash, linger, silent, oversized, app_error=app_error, renamed=renamed
    )
    if fastapi:
        from fastapi import FastAPI

        app = FastAPI()
        for path, endpoint in endpoints.items():
            app.add_api_websocket_route(path, endpoint)
        return app
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    return Starlette(routes=[WebSocketRoute(path, endpoint) for path, endpoint in endpoints.items()])


def aiohttp_app() -> Any:
    """The same routes on aiohttp's own server."""
    from aiohttp import web

    sessions: set[web.WebSocketResponse] = set()

    async def opened(request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(max_msg_size=MAX_MESSAGE)
        await websocket.prepare(request)
        sessions.add(websocket)
        return websocket

    async def close_sessions(app: web.Application) -> None:
        # aiohttp's documented graceful shutdown: the app closes its open WebSockets with 1001.
        for websocket in set(sessions):
            await websocket.close(code=1001, message=b"Server shutdown")

    async def happy(request: web.Request) -> web.StreamResponse:
        websocket = await opened(request)
        await websocket.receive()
        for name in EVENTS:
            await websocket.send_str(event(name))
        await websocket.close()
        return websocket

    async def auth_before(request: web.Request) -> web.StreamResponse:
        raise web.HTTPForbidden()

    async def auth_after(request: web.Request) -> web.StreamResponse:
        websocket = await opened(request)
        await websocket.close(code=1008, message=b"Authentication failed")
        return websocket

    async def crash(request: web.Request) -> web.StreamResponse:
        websocket = await opened(request)
        await websocket.receive()
        await websocket.send_str(event(EVENTS[0]))
        raise RuntimeError("handler bug after the first event")

    async def linger(request: web.Request) -> web.StreamResponse:
        websocket = await opened(request)
        await websocket.receive()
        await websocket.send_str(event(EVENTS[0]))
        print("session", flush=True)  # the suite sends SIGTERM once it reads this
        await asyncio.sleep(3600)
        return websocket

    async def silent(request: web.Request) -> web.StreamResponse:
        websocket = await opened(request)
        await asyncio.sleep(3600)
        return websocket

    async def oversized(request: web.Request) -> web.StreamResponse:
        websocket = await opened(request)
        await websocket.receive()
        await websocket.close()
        return websocket

    async def app_error(request: web.Request) -> web.StreamResponse:
        websocket = await opened(request)
        await websocket.receive()
        await websocket.send_str(event(EVENTS[0]))
        await websocket.send_str(json.dumps(APP_ERROR))
        await asyncio.sleep(3600)
        return websocket

    async def renamed(request: web.Request) -> web.StreamResponse:
        websocket = await opened(request)
        await websocket.receive()
        for name in RENAMED:
            await websocket.send_str(event(name))
        await websocket.close()
        return websocket

    app = web.Application()
    app.on_shutdown.append(close_sessions)
    endpoints = routes(
        happy, auth_before, auth_after, crash, linger, silent, oversized, app_error=app_error, renamed=renamed
    )
    for path, handler in endpoints.items():
        app.router.add_get(path, handler)
    return app


def main(framework: str, backend: str, port: int) -> None:
    if framework == "aiohttp":
        from aiohttp import web

        web.run_app(aiohttp_app(), host="127.0.0.1", port=port, print=lambda _: print("ready", flush=True))
        return
    import uvicorn

    config = uvicorn.Config(
        starlette_app(fastapi=framework == "fastapi"),
        host="127.0.0.1",
        port=port,
        ws=backend,  # type: ignore[arg-type]
        ws_max_size=MAX_MESSAGE,
        log_level="warning",
        lifespan="off",
    )
    serve_uvicorn(config)


def serve_uvicorn(config: Any) -> None:
    """Serve a `uvicorn.Config`, printing `ready` once it listens."""
    import uvicorn

    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        print("ready", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
