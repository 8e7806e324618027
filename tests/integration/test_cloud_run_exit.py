"""Cloud Run says in the revision's log when the container's process ended: read through the real Logging client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from loopctl.config import Config
from loopctl.evidence.collect import collect
from loopctl.records.record import CheckRecord
from loopctl.records.sections import DeploySection
from tests.support.logging_emulator import LoggingEmulator, run_entry

PROJECT, SERVICE, REVISION = "exit-proj", "backend", "backend-00003-abc"
NODE_CRASH = [
    "TypeError: Cannot read properties of undefined (reading 'id')",
    "    at trackActivity (/app/dist/index.js:1:2472)",
    "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
    "Node.js v20.11.1",
]


@pytest.fixture
def emulator() -> Iterator[LoggingEmulator]:
    with LoggingEmulator() as running:
        yield running


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def test_container_called_exit_is_the_processs_end_with_its_code(emulator: LoggingEmulator) -> None:
    started = datetime.now(UTC) - timedelta(seconds=20)
    crashed = started + timedelta(milliseconds=300)
    lines = [*NODE_CRASH, "Container called exit(1)."]  # the platform's own line, after the app's last words
    emulator.add(
        *(
            run_entry(PROJECT, SERVICE, REVISION, stamp(crashed + timedelta(milliseconds=n)), text, number=n)
            for n, text in enumerate(lines)
        ),
        run_entry(PROJECT, SERVICE, REVISION, stamp(started + timedelta(seconds=9)), "INFO later", number=99),
    )
    cloudrun = {"project": PROJECT, "region": "us-central1", "service": SERVICE, "logging_endpoint": emulator.endpoint}
    config = Config.model_validate({"project": "p", "deploy": {"target": "cloudrun", "cloudrun": cloudrun}})
    check = CheckRecord.model_validate(
        {
            "name": "chat",
            "kind": "websocket",
            "passed": False,
            "outcome": {"code": 1006, "category": "abnormal_closure", "depth": 3},
            "started_at": stamp(started),
            "finished_at": stamp(started + timedelta(seconds=1)),
        }
    )

    evidence = collect(config, DeploySection(target="cloudrun", revision=REVISION), [check])

    process = evidence.detail["process"]
    assert (process["exit_code"], process["oom_killed"], process["lines"][-1]) == (
        1,
        False,
        "Container called exit(1).",
    )
    error = evidence.checks[0].server_error
    assert error is not None and error.type == "TypeError"
