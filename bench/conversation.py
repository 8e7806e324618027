"""A `steps` conversation whose `expect` skips 100,000 frames, against a raw `websockets` client reading the same.

A websockets server (its own process on 127.0.0.1) answers an auth message with `auth_ok`, then FRAMES - 2 `token`
events, then `agent_completed`. A: `loopctl probe --check chat --url …` with a config whose steps send the auth
message, expect `auth_ok`, then expect `agent_completed` with a `match` on its payload (every `token` frame is read,
compared and skipped). B: a plain websockets client (its own interpreter) that sends the same message and reads
frames, `json.loads` each, until `agent_completed`. Both are processes started the same way; interleaved, medians,
ratio.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from events import FRAMES, raw_against_probe, start_server
from timing import LOOPCTL, require_venv, say

ROUNDS = 3
GOAL_RATIO = 1.5

CONFIG = """\
project: bench
probe:
  checks:
    - name: chat
      websocket:
        path: /ws
        auth: {type: message, token: {env: BENCH_CHAT_TOKEN}}
        timeout: 90
        steps:
          - send: {type: auth, token: "{token}"}
          - expect: {type: auth_ok}
            capture: {session: session_id}
          - expect: {type: agent_completed}
            match: {"result.answer": "^4$"}
"""


def main() -> None:
    require_venv()
    server, port = start_server(
        {"type": "auth_ok", "session_id": "s-1"}, {"type": "agent_completed", "result": {"answer": "4"}}
    )
    os.environ["BENCH_CHAT_TOKEN"] = "bench-chat-token"
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(CONFIG)
        try:
            say(f"conversation: server on 127.0.0.1:{port} sends {FRAMES:,} frames per connection")
            probe = [LOOPCTL, "probe", "--check", "chat", "--url", f"http://127.0.0.1:{port}", "-c", config, "--json"]
            name = "conversation: loopctl probe --check"
            raw_against_probe(name, f"ws://127.0.0.1:{port}/ws", [str(part) for part in probe], ROUNDS, GOAL_RATIO)
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
