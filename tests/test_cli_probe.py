"""`loopctl probe` and `loopctl classify` as a user runs them: exit codes, one JSON document, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection

from tests.support.wsservers import event, websocket_server

TOKEN = "s3cr3t-probe-token-value"


def loopctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


async def _echo_token_then_close(ws: ServerConnection) -> None:
    # A careless server that puts the token it got into its close reason.
    assert ws.request is not None
    await ws.recv()
    await ws.send(event("agent_started"))
    await ws.close(1008, f"bad token {ws.request.headers.get('Authorization', '')}")


def test_probe_json_is_one_document_on_stdout_and_never_holds_the_token() -> None:
    with websocket_server(_echo_token_then_close) as port:
        done = loopctl(
            "probe",
            f"ws://127.0.0.1:{port}/ws",
            "--send",
            '{"type": "user_message"}',
            "--expect-event",
            "agent_started",
            "--expect-event",
            "agent_completed",
            "--token-env",
            "PROBE_TOKEN",
            "--json",
            env={"PROBE_TOKEN": TOKEN},
        )
    assert done.returncode == 1
    document = json.loads(done.stdout)["data"]
    assert done.stdout.count("\n") == 1
    assert set(document) >= {
        "schema",
        "url",
        "passed",
        "outcome",
        "events_expected",
        "events_seen",
        "events_missing",
        "latency_ms",
    }
    assert set(document["outcome"]) == {"code", "category", "depth", "label", "reason", "hint", "origin"}
    assert set(document["latency_ms"]) == {"connect", "first_event", "total"}
    assert document["outcome"]["category"] == "policy_violation"
    assert document["events_missing"] == ["agent_completed"]
    assert document["outcome"]["reason"] == "bad token Bearer ***"
    assert TOKEN not in done.stdout + done.stderr


def test_probe_human_output_goes_to_stderr_with_verdict_code_and_hint() -> None:
    with websocket_server(_echo_token_then_close) as port:
        done = loopctl(
            "probe",
            f"ws://127.0.0.1:{port}/ws",
            "--send",
            "{}",
            "--token-env",
            "PROBE_TOKEN",
            "--expect-event",
            "agent_completed",
            env={"PROBE_TOKEN": TOKEN},
        )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("FAIL ")
    assert "received 1008 (policy violation)" in done.stderr
    assert "token validation" in done.stderr
    assert TOKEN not in done.stderr


def test_probe_passes_with_exit_zero() -> None:
    async def agent(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(event("agent_started"))
        await ws.wait_closed()

    with websocket_server(agent) as port:
        done = loopctl("probe", f"ws://127.0.0.1:{port}/ws", "--send", "{}", "--expect-event", "agent_started")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("PASS ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://host/x"], "bad URL 'ftp://host/x'"),
        (["ws://"], "bad URL 'ws://'"),
        (["ws://127.0.0.1:99999/ws"], "bad URL"),
        (["ws://127.0.0.1:1/ws", "--send", "{nope"], "--send is not valid JSON"),
        (["ws://127.0.0.1:1/ws", "--token-env", "LOOPCTL_TEST_UNSET"], "LOOPCTL_TEST_UNSET is not set"),
        (["ws://127.0.0.1:1/ws", "--token-file", "/nonexistent/token"], "cannot read secret file"),
        (["ws://127.0.0.1:1/ws", "--token-command", "false"], "secret command 'false' exited 1"),
        (["ws://127.0.0.1:1/ws", "--header", "no-colon"], "bad header 'no-colon'"),
        (["ws://127.0.0.1:1/ws", "--timeout", "5000"], "bad --timeout '5000.0': "),
        (["http://127.0.0.1:1/x", "--token-env", "PATH", "--auth", "subprotocol"], "bad --auth 'subprotocol': "),
    ],
)
def test_usage_errors_exit_2_with_one_message_and_no_traceback(args: list[str], message: str) -> None:
    done = loopctl("probe", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_usage_errors_with_json_still_print_one_json_document(tmp_path: Path) -> None:
    done = loopctl("probe", "ws://127.0.0.1:1/ws", "--send", "{nope", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["errors"][0]["kind"] == "usage"


def test_a_failing_token_command_does_not_leak_what_it_printed(tmp_path: Path) -> None:
    script = tmp_path / "token.sh"
    script.write_text(f"#!/bin/sh\necho {TOKEN}\nexit 3\n")
    script.chmod(0o755)
    done = loopctl("probe", "ws://127.0.0.1:1/ws", "--token-command", str(script))
    assert done.returncode == 2 and "exited 3" in done.stderr
    assert TOKEN not in done.stdout + done.stderr


def test_classify_explains_codes_for_humans_and_machines() -> None:
    human = loopctl("classify", "1008")
    machine = loopctl("classify", "1011", "--client", "--json")
    assert human.returncode == 0 and "policy_violation (depth 2/5)" in human.stderr
    assert json.loads(machine.stdout)["data"]["category"] == "keepalive_timeout"
    assert loopctl("classify", "42").returncode == 2


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from loopctl.cli import app;"
        "CliRunner().invoke(app, ['--help']);"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'google', 'websockets', 'yaml')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def _close_4001(ws: ServerConnection) -> None:
    await ws.recv()
    await ws.close(4001, "token expired")


@pytest.mark.parametrize(
    ("mapping", "category", "depth"),
    [([], "application_error", 3), (["--close-code", "4001=unauthorized"], "unauthorized", 2)],
)
def test_close_code_names_an_application_code_like_the_config_does(
    mapping: list[str], category: str, depth: int
) -> None:
    with websocket_server(_close_4001) as port:
        done = loopctl("probe", f"ws://127.0.0.1:{port}/ws", "--send", "{}", "--expect-event", "x", *mapping, "--json")
    outcome = json.loads(done.stdout)["data"]["outcome"]
    assert (outcome["code"], outcome["category"], outcome["depth"]) == (4001, category, depth)


@pytest.mark.parametrize(
    ("value", "message"),
    [("4001", "expected CODE=NAME"), ("1008=auth", "4000–4999"), ("x=auth", "expected CODE=NAME")],
)
def test_a_bad_close_code_is_a_usage_error(value: str, message: str) -> None:
    done = loopctl("probe", "ws://127.0.0.1:1/ws", "--close-code", value)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


async def _daphne_like_1011(ws: ServerConnection) -> None:
    await ws.recv()
    await ws.close(1011, "")


@pytest.mark.parametrize(("server", "channels"), [("daphne", True), ("uvicorn", False)])
def test_a_1011_from_daphne_says_channels_turns_1008_into_1011(server: str, channels: bool) -> None:
    # daphne names itself in the Server header; autobahn under it refuses close(code=1008) and daphne sends 1011.
    with websocket_server(_daphne_like_1011, server_header=server) as port:
        done = loopctl("probe", f"ws://127.0.0.1:{port}/ws", "--send", "{}", "--expect-event", "x", "--json")
    outcome = json.loads(done.stdout)["data"]["outcome"]
    assert outcome["category"] == "internal_error"
    assert ("Django Channels" in outcome["hint"]) is channels
