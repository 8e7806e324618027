"""What a conversation keeps of the frames that came instead: redacted, control characters gone, clipped, bounded."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import ServerConnection, serve

from loopctl.probe import run_check
from loopctl.probe.spec import Check, ProbeResult
from loopctl.probe.steps import Step
from loopctl.secrets import Secret

TOKEN = "frames-token-9d2e1"


async def _noisy(websocket: ServerConnection) -> None:
    await websocket.recv()
    for number in range(20):
        await websocket.send(json.dumps({"type": "progress", "n": number}))
    await websocket.send(json.dumps({"type": "echo", "said": f"token={TOKEN} \x1b[31mred\x1b[0m " + "x" * 5000}))
    await websocket.close(1011, "boom")


async def _probe() -> ProbeResult:
    async with serve(_noisy, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        steps = (Step("send", {"type": "auth", "token": "{token}"}), Step("expect", {"type": "done"}))
        check = Check(url=f"ws://127.0.0.1:{port}/", steps=steps, token=Secret(TOKEN, source="test"), auth="message")
        return await run_check(check)


def test_skipped_frames_are_kept_bounded_and_cleaned() -> None:
    result = asyncio.run(_probe())
    assert result.steps is not None
    instead = result.steps["instead"]
    assert len(instead) == 5 and instead[:4] == [json.dumps({"type": "progress", "n": n}) for n in range(16, 20)]
    assert TOKEN not in instead[4] and "***" in instead[4] and "\x1b" not in instead[4] and len(instead[4]) <= 160
    assert result.outcome.label == "step 2/2: expect done: received 1011 (internal error) boom"
