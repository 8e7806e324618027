"""`hold` is how long to stay once nothing more is expected: it never makes the probe miss the server's answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from loopctl.probe import run_check
from loopctl.probe.spec import Check, ProbeResult
from loopctl.probe.steps import Step
from tests.reliability.harness import (
    EXIT_CHECKS,
    assert_complete,
    assert_no_traceback,
    iterate,
    run_loopctl,
    url_config,
    write_config,
)
from tests.reliability.hostile import REFUSAL, hostile_server


def hold_check(path: str, hold: float) -> str:
    return f"    - name: connect\n      websocket: {{path: '{path}', hold: {hold:g}, timeout: 5}}\n"


@pytest.mark.parametrize("hold", [0, 0.2, 1])
@pytest.mark.parametrize(
    ("path", "code", "category"),
    [
        pytest.param("/refuse?code=1008", 1008, "policy_violation", id="1008-at-once"),
        pytest.param("/refuse?code=1011", 1011, "internal_error", id="1011-at-once"),
        # An auth middleware that looks the token up first: the answer comes a moment after the upgrade.
        pytest.param("/refuse?code=1008&after=0.3", 1008, "policy_violation", id="1008-after-300ms"),
    ],
)
def test_a_close_sent_as_the_servers_answer_fails_the_check_whatever_the_hold(
    tmp_path: Path, hold: float, path: str, code: int, category: str
) -> None:
    with hostile_server() as address:
        write_config(tmp_path, url_config(f"http://{address}", hold_check(path, hold)))
        done = iterate(tmp_path, "--ci", "--json")
    assert done.returncode == EXIT_CHECKS, done.stderr
    assert_no_traceback(done.stderr)
    record = assert_complete(tmp_path, 1, status="failed", phases=[("deploy", "ok"), ("probe", "failed")])
    outcome = record["checks"][0]["outcome"]
    assert (outcome["code"], outcome["category"], outcome["origin"]) == (code, category, "server"), outcome
    assert REFUSAL in outcome["reason"]


@pytest.mark.parametrize("hold", ["0", "0.2"])
def test_probe_with_a_short_hold_reports_the_immediate_1008(tmp_path: Path, hold: str) -> None:
    with hostile_server() as address:
        done = run_loopctl(tmp_path, "probe", f"ws://{address}/refuse?code=1008", "--hold", hold, "--json")
    assert done.returncode == EXIT_CHECKS, done.stderr
    outcome = json.loads(done.stdout)["data"]["outcome"]
    assert (outcome["code"], outcome["category"]) == (1008, "policy_violation"), outcome


def test_a_quiet_server_passes_a_zero_hold_after_the_first_word_wait(tmp_path: Path) -> None:
    with hostile_server() as address:
        write_config(tmp_path, url_config(f"http://{address}", hold_check("/quiet", 0)))
        done = iterate(tmp_path, "--ci", "--json")
    assert done.returncode == 0, done.stderr
    record = assert_complete(tmp_path, 1, status="success", phases=[("deploy", "ok"), ("probe", "ok")])
    outcome = record["checks"][0]["outcome"]
    assert outcome["reason"] == "connection stayed open for 1s and the server said nothing", outcome


def _run(check: Check) -> ProbeResult:
    return asyncio.run(run_check(check))


def test_an_awaited_close_passes_its_step_though_the_server_never_ends_tcp() -> None:
    """The close frame is the answer; TCP staying open after it is the server's business, not a failed step."""
    with hostile_server() as address:
        steps = (Step("expect_close", close_codes=(1008,)),)
        for timeout in (1, 5):
            result = _run(Check(url=f"ws://{address}/refuse?code=1008", steps=steps, timeout=timeout))
            assert result.passed and result.outcome.reason.endswith("closed with 1008"), (timeout, result.outcome)
        waiting = (Step("expect", {"type": "answer"}, timeout=0.5),)
        refused = _run(Check(url=f"ws://{address}/refuse?code=1011", steps=waiting, timeout=5))
    # A close while a step waits for a frame is the verdict, at the step, not a silence.
    assert (refused.outcome.code, refused.outcome.category) == (1011, "internal_error"), refused.outcome
    assert refused.outcome.label.startswith("step 1/1: expect answer: received 1011")


def test_a_verdict_reached_stands_when_the_server_never_answers_the_close() -> None:
    """Every event arrived; the closing handshake that follows may run into the check's timeout, not its verdict."""
    with hostile_server() as address:
        result = _run(Check(url=f"ws://{address}/many?n=10", expect_events=("start", "done"), timeout=1))
    assert result.passed, result.outcome


def test_the_hold_after_a_conversations_last_send_passes_when_the_timeout_ends_it() -> None:
    """Every step done, then the connection stays open: the check's timeout ending that hold is a pass, as for a
    check with nothing to expect, never a silence."""

    async def slow(websocket: ServerConnection) -> None:
        await websocket.recv()
        await asyncio.sleep(0.6)
        await websocket.send(json.dumps({"type": "ok"}))
        await websocket.wait_closed()

    async def probe() -> ProbeResult:
        async with serve(slow, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            steps = (Step("send", {"type": "ask"}), Step("expect", {"type": "ok"}), Step("send", {"type": "bye"}))
            return await run_check(Check(url=url, steps=steps, timeout=1, hold=1))

    result = asyncio.run(probe())
    assert result.passed and result.outcome.reason == "connection stayed open for 1s", result.outcome
