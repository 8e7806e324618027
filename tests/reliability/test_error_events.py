"""An event the app marks as an error ends the check at once, quoted; events that came instead are named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection

from tests.reliability.harness import (
    EXIT_CHECKS,
    assert_complete,
    assert_no_traceback,
    assert_nowhere,
    iterate,
    iterations,
    run_loopctl,
    url_config,
    write_config,
)
from tests.support.wsservers import websocket_server

SECRET = "sk-live-error-frame-7Qz9Xw2Lp4"


async def agent(ws: ServerConnection) -> None:
    """The sample's stream, broken per path; every path keeps the session open, so only a read can end it."""
    await ws.recv()
    path = ws.request.path if ws.request is not None else "/"
    await ws.send(json.dumps({"type": "agent_started"}))
    if path == "/error":
        message = f"tool weather failed: KeyError 'city' (token {SECRET})\n\x1b[2J" + "x" * 400
        await ws.send(json.dumps({"type": "error", "message": message}))
    elif path == "/fatal":
        await ws.send(json.dumps({"type": "status", "severity": "warning", "detail": "slow tool"}))
        await ws.send(json.dumps({"type": "status", "severity": "fatal", "detail": "model quota exhausted"}))
    elif path == "/renamed":
        await ws.send(json.dumps({"type": "tool_output"}))
        await ws.send(json.dumps({"type": "done"}))
    elif path == "/error-expected":
        await ws.send(json.dumps({"type": "error", "message": "asked for"}))
    await ws.wait_closed()


def check(path: str, events: str, extra: str = "", *, timeout: float = 30) -> str:
    return (
        f"    - name: chat\n      websocket: {{path: {path}, send: {{type: ask}}, expect_events: [{events}],"
        f" timeout: {timeout:g}{extra}}}\n"
    )


def run(folder: Path, item: str) -> dict[str, Any]:
    with websocket_server(agent) as port:
        write_config(folder, url_config(f"http://127.0.0.1:{port}", item))
        done = iterate(folder, "--ci", env={"LEAKY": SECRET}, timeout=25)
    assert_no_traceback(done.stderr)
    first: dict[str, Any] = json.loads((iterations(folder) / "0001.json").read_text())["checks"][0]
    return first


def test_an_error_event_ends_the_wait_quoted_redacted_and_clipped(tmp_path: Path) -> None:
    """The session stays open for an hour and the check's timeout is 30 s: only the error frame ends it within
    the 25 s this test gives `iterate`. The token the check sends is a secret loopctl masks wherever it shows."""
    auth = ", auth: {type: bearer, token: {env: LEAKY}}"
    with websocket_server(agent) as port:
        write_config(
            tmp_path, url_config(f"http://127.0.0.1:{port}", check("/error", "agent_started, tool_result", auth))
        )
        done = iterate(tmp_path, "--ci", env={"LEAKY": SECRET}, timeout=25)
    assert done.returncode == EXIT_CHECKS, done.stderr
    assert_no_traceback(done.stderr)
    record = assert_complete(tmp_path, 1, status="failed", phases=[("deploy", "ok"), ("probe", "failed")])
    chat = record["checks"][0]
    outcome = chat["outcome"]
    assert (outcome["category"], outcome["depth"], outcome["code"]) == ("server_reported_error", 3, None), outcome
    assert outcome["reason"].startswith("tool weather failed: KeyError 'city' (token ***)")
    assert len(outcome["reason"]) == 200 and "\x1b" not in outcome["reason"]
    assert chat["events_seen"] == ["agent_started", "error"]
    assert "iteration 1: failed — the server reported an error: tool weather failed" in done.stderr
    assert_nowhere([SECRET], folder=iterations(tmp_path), outputs={"out": done.stdout + done.stderr})


def test_fail_on_matches_a_subset_of_the_frame(tmp_path: Path) -> None:
    chat = run(tmp_path, check("/fatal", "agent_started, agent_completed", ", fail_on: [{severity: fatal}]"))
    assert (chat["outcome"]["category"], chat["outcome"]["reason"]) == (
        "server_reported_error",
        "model quota exhausted",
    )
    assert chat["events_seen"] == ["agent_started", "status", "status"]
    # The default (`type: error`) steps aside when `error` is itself an expected event.
    expected = run(tmp_path / "expected", check("/error-expected", "agent_started, error"))
    assert expected["passed"] and expected["outcome"]["category"] == "success", expected


def test_events_that_came_instead_are_named(tmp_path: Path) -> None:
    chat = run(tmp_path, check("/renamed", "agent_started, tool_result, agent_completed", timeout=2))
    outcome = chat["outcome"]
    assert outcome["category"] == "missing_events", outcome
    assert outcome["label"].endswith("missing tool_result, agent_completed; tool_output, done came instead")
    assert "got as far as done and never sent tool_result: tool_output and done arrived in place" in outcome["hint"]


def test_probe_ends_at_the_error_event_too(tmp_path: Path) -> None:
    with websocket_server(agent) as port:
        done = run_loopctl(
            tmp_path,
            "probe",
            f"ws://127.0.0.1:{port}/error",
            "--send",
            '{"type": "ask"}',
            "--expect-event",
            "agent_completed",
            "--timeout",
            "30",
            "--json",
            timeout=25,
        )
    assert done.returncode == EXIT_CHECKS, done.stderr
    outcome = json.loads(done.stdout)["outcome"]
    assert (outcome["category"], outcome["reason"][:36]) == (
        "server_reported_error",
        "tool weather failed: KeyError 'city'",
    )
