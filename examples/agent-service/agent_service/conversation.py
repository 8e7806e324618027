"""The agent's side of a chat: five events per user message, or the fault it was told to show."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .settings import Fault, Settings

EVENT_GAP = 0.02
INTERNAL_ERROR = 1011
log = logging.getLogger("agent_service")


class Peer(Protocol):
    """The part of a websockets server connection (legacy or asyncio API) a conversation uses."""

    @property
    def transport(self) -> Any: ...

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    async def wait_closed(self) -> None: ...


@dataclass(frozen=True)
class UserExecutionContext:
    """Whom one agent run acts for; tools refuse to run without it."""

    run_id: str
    user: str


class BadMessage(ValueError):
    """A client message that is not a JSON user_message; the client is told why and may go on."""


async def converse(peer: Peer, settings: Settings) -> None:
    """Answer every user_message until the client closes, or until a fault ends the connection."""
    async for message in peer:
        try:
            content = user_content(message)
        except BadMessage as exc:
            await peer.send(json.dumps({"type": "error", "data": {"message": str(exc)}}))
            continue
        if await answer(peer, content, settings):
            return


def user_content(message: str | bytes) -> str:
    """The `payload.content` of a `{"type": "user_message", ...}` message, or BadMessage."""
    try:
        parsed = json.loads(message)
    except ValueError:
        raise BadMessage("message is not valid JSON") from None
    if not isinstance(parsed, dict) or parsed.get("type") != "user_message":
        raise BadMessage('expected {"type": "user_message", "payload": {"content": "..."}}')
    payload = parsed.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("content"), str):
        raise BadMessage("user_message needs payload.content as a string")
    content: str = payload["content"]
    return content


async def answer(peer: Peer, content: str, settings: Settings) -> bool:
    """Stream the events for one message the way `settings.fault` says; True when the connection is done."""
    events = agent_events(content)
    run_id = events[0]["data"]["run_id"]
    # The bug FAULT=internal shows: the run id is passed where the tool wants the whole context.
    context = run_id if settings.fault is Fault.INTERNAL else UserExecutionContext(run_id, "probe")
    await send_events(peer, events[:1], gap=EVENT_GAP)
    try:
        tool_arguments(content, context)
    except TypeError:
        log.exception("agent run %s failed", run_id)
        await peer.close(INTERNAL_ERROR, "Internal error")
        return True
    rest = events[1:]
    gap = settings.slow_delay if settings.fault is Fault.SLOW else EVENT_GAP
    await asyncio.sleep(gap)
    if settings.fault is Fault.DROP:
        peer.transport.abort()  # no close frame: the client sees 1006, as when an instance dies
        return True
    if settings.fault is Fault.PARTIAL:
        await send_events(peer, rest[:2], gap=EVENT_GAP)
        await peer.wait_closed()  # silent and open, like an agent stuck in its tool
        return True
    await send_events(peer, rest, gap=gap)
    return False


def tool_arguments(content: str, user_context: object) -> dict[str, Any]:
    """The echo tool's arguments for one run; a tool never runs without the user's execution context."""
    if not isinstance(user_context, UserExecutionContext):
        raise TypeError("user_context must be a UserExecutionContext instance")
    return {"text": content, "user": user_context.user}


async def send_events(peer: Peer, events: Sequence[dict[str, Any]], *, gap: float) -> None:
    """Send each event as JSON, `gap` seconds apart."""
    for index, event in enumerate(events):
        if index:
            await asyncio.sleep(gap)
        await peer.send(json.dumps(event))


def agent_events(content: str) -> list[dict[str, Any]]:
    """The five events of one agent run answering `content`, in the order a client expects them."""
    run_id = uuid.uuid4().hex[:12]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("agent_started", {"input": content}),
        ("agent_thinking", {"thought": "The echo tool can answer this."}),
        ("tool_executing", {"tool": "echo", "arguments": {"text": content}}),
        ("tool_completed", {"tool": "echo", "result": content}),
        ("agent_completed", {"reply": f"You said: {content}"}),
    ]
    return [{"type": name, "data": {"run_id": run_id, **fields}} for name, fields in steps]
