"""A check that crashes the service and a check racing it: the crash ranks the iteration, in every run.

The checks run at once. The service (a real container on the docker target) exits on the chat's message, and only
after the health request has reached it, so the health check always loses the race: its connection is dropped by the
exit. Ranked as the shallowest failure, that reset made the same crash `regression` in one run and `progress` in the
next; the probe now marks it as the exit's consequence and the chat check decides.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopctl.config import Config
from loopctl.phases.base import RunOptions
from loopctl.phases.docker.deploy import DockerDeploy
from loopctl.phases.probe import ProbePhase, after_exit
from loopctl.probe import classify
from loopctl.records.record import CheckRecord, OutcomeRecord, Record
from loopctl.reports.markdown import render_markdown
from loopctl.runner import run_iteration
from tests.support import realparts

# MODE=refuse: the chat is refused at authentication (1008) and health answers; MODE=crash: the chat gets `joined`,
# then the process exits (code 1) once the health request is in, which is never answered.
SERVER = """
import asyncio, http, json, os, sys
import websockets

MODE = os.environ["MODE"]
health_in = asyncio.Event()

async def process_request(path, headers):
    if not path.startswith("/health"):
        return None
    if MODE == "crash":
        health_in.set()
        await asyncio.sleep(3600)
    return http.HTTPStatus.OK, [("Content-Type", "text/plain")], b"ok\\n"

async def chat(ws, path=None):
    if MODE == "refuse":
        await ws.close(1008, "Authentication failed")
        return
    await ws.recv()
    await ws.send(json.dumps({"type": "joined"}))
    await asyncio.wait_for(health_in.wait(), 30)
    print("TypeError: Cannot read properties of undefined (reading 'name')", file=sys.stderr, flush=True)
    os._exit(1)

async def main():
    async with websockets.serve(chat, "0.0.0.0", int(os.environ["PORT"]), process_request=process_request):
        await asyncio.Future()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A docker.DockerClient; fails (never skips) when no engine or base image is there."""
    yield from realparts.engine_with_base_image()


@pytest.fixture(scope="module")
def project(engine: Any) -> Iterator[str]:
    yield from realparts.labelled_project(engine, "loopctl-test-exit-race")


def iterate(tmp_path: Path, project: str, mode: str) -> tuple[Record, str]:
    """One iteration: deploy the server in `mode` on the docker target, probe both checks at once, record."""
    config = Config.model_validate(
        {
            "project": project,
            "iterations_dir": str(tmp_path / "iterations"),
            "deploy": {
                "target": "docker",
                "docker": {"name": f"{project}-game", "env": {"MODE": mode}, "command": ["python3", "-c", SERVER]},
            },
            "probe": {
                "checks": [
                    {"name": "health", "priority": 1, "http": {"path": "/health", "expect_status": 200, "timeout": 20}},
                    {
                        "name": "chat-events",
                        "priority": 1,
                        "websocket": {
                            "path": "/ws",
                            "send": {"type": "move"},
                            "expect_events": ["joined", "room_state"],
                            "timeout": 20,
                        },
                    },
                ]
            },
        }
    )
    done = run_iteration(
        config,
        [DockerDeploy(), ProbePhase()],
        render=lambda record, previous, trend: render_markdown(record, previous, trend=trend),
        on_event=lambda event: None,
        options=RunOptions(image=realparts.BASE_IMAGE),
    )
    return done.record, done.report


def test_the_check_that_crashed_the_service_decides_the_status_in_every_run(tmp_path: Path, project: str) -> None:
    first, _ = iterate(tmp_path, project, "refuse")
    assert first.status == "failed" and first.outcome is not None and first.outcome.code == 1008
    assert first.checks[0].passed

    for number, status in ((2, "progress"), (3, "no_change"), (4, "no_change")):
        record, report = iterate(tmp_path, project, "crash")
        health, chat = record.checks
        probe = record.phase("probe")
        assert probe is not None
        why = json.dumps(probe.detail)[:2000]
        assert record.number == number and record.status == status, why
        assert record.outcome == chat.outcome and chat.outcome.code == 1006 and chat.events_seen == ["joined"], why
        assert probe.detail["evidence"]["process"]["exit_code"] == 1, why
        assert health.after_exit and health.outcome.category in ("connection_reset", "connection_refused"), why
        assert not chat.after_exit
        assert "**health** failed only because it had exited" in report
        assert "it got no answer because the service's process had exited (see Process); a consequence" in report
        assert report.index("### chat-events (priority 1)") < report.index("### health (priority 1)")


def test_only_a_check_that_got_no_answer_at_all_is_marked_as_the_exits_consequence() -> None:
    def check(outcome: OutcomeRecord) -> CheckRecord:
        return CheckRecord(name="c", kind="websocket", passed=outcome.passed, outcome=outcome.model_dump())

    refused = classify.connect_failure("connection_refused", "127.0.0.1:1: connection refused")
    reset = classify.connect_failure("connection_reset", "Remote end closed connection without response")
    assert after_exit(check(refused)).after_exit and after_exit(check(reset)).after_exit
    answered = (
        classify.close(1006, "", origin=None, expected=["joined"], seen=[]),  # the upgrade was accepted: an answer
        classify.handshake_status(503, "unavailable"),
        classify.connect_failure("tls_error", "certificate verify failed"),
        classify.success(),
    )
    assert not any(after_exit(check(outcome)).after_exit for outcome in answered)
