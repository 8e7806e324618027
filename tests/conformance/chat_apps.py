"""A chat service that authenticates in the first message, on Starlette (uvicorn) and aiohttp, and a text protocol.

Run as `python -m tests.conformance.chat_apps FRAMEWORK PORT`; it prints `ready` once it listens. The token it
accepts is CHAT_TOKEN from its environment. The Node twin is tests/fixtures/server_apps/node_ws_chat.js.
"""

import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from tests.conformance.apps import serve_uvicorn

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


class Chat:
    """One session's protocol, whatever the framework: auth first, then questions about that session."""

    def __init__(self, send: Send, close: Close) -> None:
        self.send, self.close = send, close
        self.session: str | None = None

    async def on_message(self, text: str) -> bool:
        """Answer one message; False once the session is over."""
        message = json.loads(text)
        if self.session is None:
            if message.get("type") != "auth" or message.get("token") != os.environ["CHAT_TOKEN"]:
                await self.close(1008, "authentication failed")
                return False
            self.session = "sess-" + secrets.token_hex(6)
            await self.send(json.dumps({"type": "auth_ok", "session_id": self.session}))
            return True
        if message.get("session") != self.session:
            await self.send(json.dumps({"type": "error", "message": f"unknown session {message.get('session')}"}))
            return True
        answer = "4" if message.get("text") == "2+2?" else "5"
        await self.send(json.dumps({"type": "agent_started"}))
        await self.send(json.dumps({"type": "agent_completed", "result": {"status": "ok", "answer": answer}}))
        await self.send("DONE 1 answer")
        await self.close(1000, "bye")
        return False


async def text_protocol(receive: Callable[[], Awaitable[str]], send: Send, close: Close) -> None:
    """HELLO → WELCOME guest, PING → PONG and a close."""
    while True:
        line = await receive()
        if line == "PING":
            await send("PONG")
            await close(1000, "bye")
            return
        await send("WELCOME guest" if line == "HELLO" else "ERR unknown command")


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()

        async def close(code: int, reason: str) -> None:
            await websocket.close(code=code, reason=reason)

        session = Chat(websocket.send_text, close)
        while await session.on_message(await websocket.receive_text()):
            pass

    async def text(websocket: WebSocket) -> None:
        await websocket.accept()

        async def close(code: int, reason: str) -> None:
            await websocket.close(code=code, reason=reason)

        await text_protocol(websocket.receive_text, websocket.send_text, close)

    return Starlette(routes=[WebSocketRoute("/chat", chat), WebSocketRoute("/text", text)])


def aiohttp_app() -> Any:
    from aiohttp import web

    async def opened(request: web.Request) -> tuple[web.WebSocketResponse, Close]:
        websocket = web.WebSocketResponse()
        await websocket.prepare(request)

        async def close(code: int, reason: str) -> None:
            await websocket.close(code=code, message=reason.encode())

        return websocket, close

    async def chat(request: web.Request) -> web.StreamResponse:
        websocket, close = await opened(request)
        session = Chat(websocket.send_str, close)
        async for message in websocket:
            if not await session.on_message(message.data):
                break
        return websocket

    async def text(request: web.Request) -> web.StreamResponse:
        websocket, close = await opened(request)

        async def receive() -> str:
            return str((await websocket.receive()).data)

        await text_protocol(receive, websocket.send_str, close)
        return websocket

    app = web.Application()
    app.router.add_get("/chat", chat)
    app.router.add_get("/text", text)
    return app


def main(framework: str, port: int) -> None:
    if framework == "aiohttp":
        from aiohttp import web

        web.run_app(aiohttp_app(), host="127.0.0.1", port=port, print=lambda _: print("ready", flush=True))
        return
    import uvicorn

    serve_uvicorn(uvicorn.Config(starlette_app(), host="127.0.0.1", port=port, log_level="warning"))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
