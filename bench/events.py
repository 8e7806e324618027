"""A probe receiving 100,000 event frames against a raw `websockets` client reading the same stream.

A websockets server (its own process on 127.0.0.1) answers the first message with `agent_started`, then
FRAMES - 2 `token` events, then `agent_completed`. A: `loopctl probe --expect-event agent_started
--expect-event agent_completed`. B: a plain websockets client (its own interpreter) that sends the same message
and reads frames, `json.loads` each, until `agent_completed`. Both are processes started the same way, so each
carries its own interpreter start-up; interleaved, medians, ratio.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from timing import LOOPCTL, PYTHON, figure, median, require_venv, say, timed, verdict

FRAMES = 100_000
ROUNDS = 3
GOAL_RATIO = 1.3
PROBE_TIMEOUT_S = 90

SERVER = textwrap.dedent(
    """
    import asyncio, json, sys
    from websockets.asyncio.server import serve

    FRAMES = int(sys.argv[1])
    FIRST, LAST = sys.argv[2], sys.argv[3]  # the answer to the first message; the frame that ends the stream
    TOKEN = json.dumps({"type": "token", "text": "lorem ipsum dolor"})

    async def handler(websocket):
        await websocket.recv()
        await websocket.send(FIRST)
        for _ in range(FRAMES - 2):
            await websocket.send(TOKEN)
        await websocket.send(LAST)
        try:
            await websocket.wait_closed()
        except Exception:
            pass

    async def main():
        async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()

    asyncio.run(main())
    """
)


def start_server(first: dict[str, Any], last: dict[str, Any]) -> tuple[subprocess.Popen[str], str]:
    """The streaming server in its own process, and its port: `first`, FRAMES - 2 `token` events, then `last`."""
    argv = [str(PYTHON), "-c", SERVER, str(FRAMES), json.dumps(first), json.dumps(last)]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


RAW_CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys
    from websockets.asyncio.client import connect

    async def main():
        async with connect(sys.argv[1], compression=None, max_size=None) as websocket:
            await websocket.send(json.dumps({"type": "user_message", "payload": {"content": "hi"}}))
            frames = 0
            while True:
                frames += 1
                if json.loads(await websocket.recv()).get("type") == "agent_completed":
                    break
        print(frames)

    asyncio.run(main())
    """
)


def probe_argv(url: str) -> list[str]:
    return [
        str(LOOPCTL),
        "probe",
        url,
        "--send",
        '{"type": "user_message", "payload": {"content": "hi"}}',
        "--expect-event",
        "agent_started",
        "--expect-event",
        "agent_completed",
        "--timeout",
        str(PROBE_TIMEOUT_S),
        "--json",
    ]


def raw_against_probe(name: str, url: str, probe: list[str], rounds: int, goal: float) -> None:
    """`rounds` interleaved runs of the raw websockets client and of `probe` against the server at `url`; the figure
    is the ratio of their medians, a pass only when it is within `goal` and the probe's outcome was a success."""
    probe_times: list[float] = []
    raw_times: list[float] = []
    outcome = ""
    for round_number in range(rounds):
        elapsed, done = timed([PYTHON, "-c", RAW_CLIENT, url])
        raw_times.append(elapsed)
        say(f"  round {round_number + 1}: raw websockets client {elapsed:.2f}s ({done.stdout.strip()} frames)")
        elapsed, done = timed(probe)
        probe_times.append(elapsed)
        document = (json.loads(done.stdout) if done.stdout.strip() else {}).get("data") or {}
        outcome = f"{document.get('outcome', {}).get('category')}, {document.get('events_count')} events counted"
        say(f"  round {round_number + 1}: {name} {elapsed:.2f}s ({outcome}; exit {done.returncode})")
    ratio = median(probe_times) / median(raw_times)
    figure(
        f"{name}: {median(probe_times):.2f}s ({outcome}) vs raw websockets client "
        f"{median(raw_times):.2f}s over {FRAMES:,} frames = {ratio:.2f}x (median of {rounds}; "
        f"goal <= {goal:g}x) {verdict(ratio <= goal and outcome.startswith('success'))}"
    )


def main() -> None:
    require_venv()
    server, port = start_server({"type": "agent_started"}, {"type": "agent_completed"})
    try:
        url = f"ws://127.0.0.1:{port}/ws"
        say(f"events: server at {url} sends {FRAMES:,} frames per connection")
        raw_against_probe("events: loopctl probe", url, probe_argv(url), ROUNDS, GOAL_RATIO)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
