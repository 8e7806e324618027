"""The runner with scripted fake phases: order, skip, stop on failure, abort, timing, the record it saves."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from loopctl.config import Config
from loopctl.errors import LoopctlError
from loopctl.phases.base import Context, Event, PhaseResult
from loopctl.records.record import RECORD_SCHEMA, Record
from loopctl.records.sections import BuildSection, DeploySection, PushSection, ReleaseSection, Section
from loopctl.records.store import Store
from loopctl.runner import run_iteration

SECTIONS: dict[str, type[Section]] = {
    "build": BuildSection,
    "push": PushSection,
    "deploy": DeploySection,
    "release": ReleaseSection,
}


class FakePhase:
    """A phase that does what its script says and notes that it ran."""

    def __init__(
        self,
        name: str,
        ran: list[str],
        *,
        result: PhaseResult | None = None,
        raises: BaseException | None = None,
        sleep: float = 0.0,
    ) -> None:
        self.name = name
        self.ran = ran
        kind = SECTIONS.get(name)
        self.result = result or PhaseResult("ok", section=kind(marker=name) if kind is not None else None)
        self.raises = raises
        self.sleep = sleep

    def run(self, ctx: Context) -> PhaseResult:
        self.ran.append(self.name)
        time.sleep(self.sleep)
        if self.raises is not None:
            raise self.raises
        return self.result


def _config(tmp_path: Path) -> Config:
    return Config(project="demo", iterations_dir=str(tmp_path / "iterations"))


def _render(record: Record, previous: Record | None, trend: Sequence[Record]) -> str:
    return f"report {record.number} {record.status} prev={previous.number if previous else None}\n"


def _run(tmp_path: Path, phases: list[FakePhase], **options: object) -> tuple[Record, list[Event]]:
    events: list[Event] = []
    result = run_iteration(_config(tmp_path), phases, render=_render, on_event=events.append, **options)  # type: ignore[arg-type]
    return result.record, events


def test_phases_run_in_order_and_each_is_timed(tmp_path: Path) -> None:
    ran: list[str] = []
    phases = [FakePhase("build", ran, sleep=0.05), FakePhase("push", ran), FakePhase("deploy", ran)]
    record, events = _run(tmp_path, phases)
    assert ran == ["build", "push", "deploy"]
    assert [phase.name for phase in record.phases] == ["build", "push", "deploy"]
    assert record.phases[0].duration_s >= 0.05
    assert record.build is not None and record.build.model_dump() == {"marker": "build"}
    assert record.deploy is not None and record.deploy.model_dump() == {"marker": "deploy"}
    assert [(event.kind, event.phase) for event in events if event.kind != "log"] == [
        ("start", "build"),
        ("end", "build"),
        ("start", "push"),
        ("end", "push"),
        ("start", "deploy"),
        ("end", "deploy"),
    ]


def test_skip_leaves_a_phase_out_but_recorded(tmp_path: Path) -> None:
    ran: list[str] = []
    record, _ = _run(tmp_path, [FakePhase("build", ran), FakePhase("push", ran)], skip=frozenset({"build"}))
    assert ran == ["push"]
    assert record.phases[0].status == "skipped" and record.phases[0].detail == {"reason": "skipped by --skip"}


def test_a_failed_gating_phase_stops_the_run_and_the_error_is_data(tmp_path: Path) -> None:
    ran: list[str] = []
    failing = FakePhase("build", ran, raises=LoopctlError("RUN pip install failed", hint="read the log", kind="build"))
    record, _ = _run(tmp_path, [failing, FakePhase("push", ran), FakePhase("probe", ran)])
    assert ran == ["build"]
    assert record.status == "failed"
    assert record.phases[0].error is not None and record.phases[0].error.message == "RUN pip install failed"
    assert [phase.status for phase in record.phases] == ["failed", "skipped", "skipped"]
    assert record.phases[1].detail["reason"] == "after build failed"


def test_a_failed_probe_does_not_stop_the_suites(tmp_path: Path) -> None:
    ran: list[str] = []
    record, _ = _run(tmp_path, [FakePhase("probe", ran, result=PhaseResult("failed")), FakePhase("suites", ran)])
    assert ran == ["probe", "suites"]
    assert [phase.status for phase in record.phases] == ["failed", "ok"]


def test_ctrl_c_aborts_with_a_record_and_report_of_what_finished(tmp_path: Path) -> None:
    ran: list[str] = []
    record, _ = _run(
        tmp_path,
        [FakePhase("build", ran), FakePhase("push", ran, raises=KeyboardInterrupt()), FakePhase("deploy", ran)],
    )
    assert ran == ["build", "push"]
    assert record.status == "aborted"
    assert [phase.status for phase in record.phases] == ["ok", "aborted", "skipped"]
    store = Store(tmp_path / "iterations")
    assert store.load(1).status == "aborted"
    assert store.report_path(1).read_text() == "report 1 aborted prev=None\n"
    assert not list((tmp_path / "iterations").glob("*.tmp"))


@pytest.mark.parametrize(
    "crash",
    [RecursionError("maximum recursion depth exceeded"), OSError(24, "Too many open files"), ValueError("bad\nvalue")],
    ids=["RecursionError", "EMFILE", "ValueError"],
)
def test_an_unexpected_exception_is_that_phases_failure_and_the_iteration_is_still_recorded(
    tmp_path: Path, crash: Exception
) -> None:
    ran: list[str] = []
    record, events = _run(tmp_path, [FakePhase("probe", ran, raises=crash), FakePhase("suites", ran)])
    assert ran == ["probe", "suites"]  # like any failed probe, it does not stop the suites
    probe = record.phases[0]
    assert (probe.status, probe.error and probe.error.kind) == ("failed", "internal_error")
    assert probe.error is not None and probe.error.message.startswith(type(crash).__name__)
    assert "test_runner.py:" in probe.error.message and "\n" not in probe.error.message
    assert record.status == "inconclusive"  # no check ran: no verdict
    assert Store(tmp_path / "iterations").load(1) == record
    assert Store(tmp_path / "iterations").report_path(1).exists()
    assert ("end", "probe", "failed") in [(event.kind, event.phase, event.status) for event in events]


def test_a_crash_in_a_gating_phase_stops_the_run_as_its_failure(tmp_path: Path) -> None:
    ran: list[str] = []
    record, _ = _run(tmp_path, [FakePhase("build", ran, raises=ZeroDivisionError()), FakePhase("push", ran)])
    assert ran == ["build"] and record.status == "failed"
    assert [phase.status for phase in record.phases] == ["failed", "skipped"]


def test_a_report_that_cannot_be_rendered_leaves_the_record_and_a_short_report(tmp_path: Path) -> None:
    def broken(record: Record, previous: Record | None, trend: Sequence[Record]) -> str:
        raise KeyError("oops")

    config = _config(tmp_path)
    result = run_iteration(config, [FakePhase("deploy", [])], render=broken, on_event=lambda event: None)
    assert Store(tmp_path / "iterations").load(1) == result.record
    assert "could not be rendered (KeyError: 'oops'" in result.report
    assert Store(tmp_path / "iterations").report_path(1).read_text() == result.report


def test_numbers_count_up_and_the_record_on_disk_is_the_record_returned(tmp_path: Path) -> None:
    first, _ = _run(tmp_path, [FakePhase("deploy", [])])
    second, _ = _run(tmp_path, [FakePhase("deploy", [])])
    assert (first.number, second.number) == (1, 2)
    on_disk = json.loads((tmp_path / "iterations" / "0002.json").read_text())
    assert on_disk == second.to_json_dict()
    assert on_disk["schema"] == RECORD_SCHEMA == 3


@pytest.mark.parametrize("phase", ["docker-build", "docker-deploy", "cloudbuild"])
def test_a_phase_whose_config_block_is_missing_is_a_usage_error_with_exit_2(tmp_path: Path, phase: str) -> None:
    """The same condition everywhere: the config lacks what a phase needs, which is the user's input (exit 2)."""
    from loopctl.exitcodes import ExitCode, for_record
    from loopctl.phases.cloudbuild.build import CloudBuildPhase
    from loopctl.phases.docker.build import BuildPhase
    from loopctl.phases.docker.deploy import DockerDeploy

    chosen = {"docker-build": BuildPhase, "docker-deploy": DockerDeploy, "cloudbuild": CloudBuildPhase}[phase]()
    events: list[Event] = []
    record = run_iteration(_config(tmp_path), [chosen], render=_render, on_event=events.append).record
    (error,) = [item.error for item in record.phases if item.error is not None]
    assert error.kind == "usage" and "block in the config" in error.message
    assert for_record(record) == ExitCode.USAGE
