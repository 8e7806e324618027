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


ODD_TOKEN = r"t{ok}en-\1$&.*(x)"  # braces, a backreference and regex characters: sent as they are, never parsed


async def _hostile_frames(websocket: ServerConnection, heard: list[str | bytes]) -> None:
    """Frames a real peer may send where JSON text is awaited, then an answer to what arrived."""
    heard.append(await websocket.recv())
    await websocket.send(b"\x00\x01binary where text is expected")
    await websocket.send("[" * 100_000 + "]" * 100_000)  # deeper than any parser goes
    await websocket.send('{"type": "ok", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    await websocket.send(json.dumps({"type": "ok", "n": 7, "obj": {"a": [1, {"b": None}]}}))
    heard.append(await websocket.recv())
    await websocket.send("ECHO")
    await websocket.close()


def test_binary_and_deep_frames_are_skipped_and_odd_tokens_and_typed_captures_travel_intact() -> None:
    heard: list[str | bytes] = []

    async def probe() -> ProbeResult:
        async with serve(lambda ws: _hostile_frames(ws, heard), "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            steps = (
                Step("text", "auth {token} {unknown}"),
                Step("expect", {"type": "ok"}, capture={"n": "n", "obj": "obj"}),
                Step("send", {"n": "{n}", "obj": "{obj}", "both": "{n}/{obj}"}),
                Step("expect_text", "^ECHO$"),
                Step("expect_close", close_codes=(1000,)),
            )
            token = Secret(ODD_TOKEN, source="test")
            url = f"ws://127.0.0.1:{port}/"
            return await run_check(Check(url=url, steps=steps, token=token, auth="message", max_size=1 << 22))

    result = asyncio.run(probe())
    assert result.passed and result.steps is not None and result.steps["done"] == 5, result.outcome
    assert heard[0] == f"auth {ODD_TOKEN} {{unknown}}"  # a name nothing defines stays as written
    obj = {"a": [1, {"b": None}]}
    assert json.loads(heard[1]) == {"n": 7, "obj": obj, "both": f"7/{json.dumps(obj)}"}  # whole values keep their type
    assert result.steps["captured"]["n"] == "7" and ODD_TOKEN not in json.dumps(result.to_dict())


async def _echo_profile(websocket: ServerConnection) -> None:
    await websocket.recv()
    await websocket.send(json.dumps({"type": "auth_ok", "profile": {"name": "Zoë Ångström", "plan": "pro"}}))
    await websocket.send("you said: " + str(await websocket.recv()))  # raw UTF-8, as the text frame carried it
    await websocket.close(1011, "boom")


def test_a_captured_object_is_masked_in_the_form_it_travels_in() -> None:
    """A value captured after authenticating may be a credential: masked as `fill` writes it into text (UTF-8)."""

    async def probe() -> ProbeResult:
        async with serve(_echo_profile, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            steps = (
                Step("send", {"type": "auth", "token": "{token}"}),
                Step("expect", {"type": "auth_ok"}, capture={"profile": "profile"}),
                Step("text", "hello {profile}"),
                Step("expect", {"type": "done"}),
            )
            token = Secret(TOKEN, source="test")
            return await run_check(Check(url=f"ws://127.0.0.1:{port}/", steps=steps, token=token, auth="message"))

    result = asyncio.run(probe())
    assert result.steps is not None and result.steps["instead"][0].startswith("you said: hello ***"), result.steps
    assert "Zoë Ångström" not in json.dumps(result.to_dict(), ensure_ascii=False)
