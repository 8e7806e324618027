"""The runner with several services and scripted phases: builds side by side, deploys in dependency order, a
dependency's failure skipping its dependents and every probe, and the record's services mapping."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from loopctl.config import Config
from loopctl.config.services import service_views
from loopctl.errors import ErrorKind
from loopctl.phases.base import Context, PhaseResult
from loopctl.records.record import ErrorInfo, Record
from loopctl.records.sections import BuildSection, DeploySection
from loopctl.runner import ServicePlan, run_iteration

CONFIG = {
    "project": "shop",
    "services": {
        "store": {"deploy": {"target": "url", "url": "http://store.invalid"}},
        "api": {"depends_on": ["store"], "deploy": {"target": "url", "url": "http://api.invalid"}},
        "web": {"deploy": {"target": "url", "url": "http://web.invalid"}},
    },
}


class Scripted:
    """A phase that notes who ran it, may wait at a barrier with the other services' builds, and may fail."""

    def __init__(self, name: str, log: list[str], *, barrier: threading.Barrier | None = None, fail: bool = False):
        self.name, self.log, self.barrier, self.fail = name, log, barrier, fail

    def run(self, ctx: Context) -> PhaseResult:
        self.log.append(f"{ctx.service}/{self.name}")
        if self.barrier is not None:
            self.barrier.wait(timeout=10)  # raises (the phase fails) unless another build runs at the same time
        if self.fail:
            return PhaseResult("failed", error=ErrorInfo(kind=ErrorKind.CONTAINER_EXITED, message="it exited"))
        if self.name == "build":
            return PhaseResult("ok", section=BuildSection(image=f"{ctx.service}-image", input_digest=ctx.service))
        if self.name == "deploy":
            return PhaseResult("ok", section=DeploySection(target="url", url=f"http://{ctx.service}.invalid"))
        return PhaseResult("ok")


def run(tmp_path: Path, *, failing: str | None = None) -> tuple[Record, list[str]]:
    config = Config.model_validate({**CONFIG, "iterations_dir": str(tmp_path / "iterations")})
    log: list[str] = []
    barrier = threading.Barrier(2)  # two builds must meet: they run side by side (BUILDS_AT_ONCE is 2)
    plans = [
        ServicePlan(
            view,
            [
                Scripted("build", log, barrier=barrier if view.name in ("store", "api") else None),
                Scripted("deploy", log, fail=view.name == failing),
                Scripted("probe", log),
            ],
        )
        for view in service_views(config)
    ]
    record = run_iteration(config, [], render=_render, on_event=lambda event: None, services=plans).record
    return record, log


def _render(record: Record, previous: Record | None, trend: Sequence[Record]) -> str:
    return f"report {record.number}\n"


def test_builds_run_side_by_side_then_deploys_follow_the_dependencies_then_every_probe(tmp_path: Path) -> None:
    record, log = run(tmp_path)
    assert [phase.status for phase in record.phases] == ["ok"] * 9
    deploys = [entry for entry in log if entry.endswith("/deploy")]
    assert deploys == ["store/deploy", "api/deploy", "web/deploy"]
    assert log.index("web/deploy") < min(log.index(f"{name}/probe") for name in ("store", "api", "web"))
    assert record.services is not None and list(record.services) == ["store", "api", "web"]
    assert record.services["api"].depends_on == ["store"]
    assert record.services["api"].build is not None and record.services["api"].build.input_digest == "api"
    assert record.build is None and record.deploy is None  # each service's sections are its own
    assert record.service_sections["web"].deploy is not None


def test_a_failed_dependency_skips_its_dependents_deploy_and_every_probe_naming_it(tmp_path: Path) -> None:
    record, log = run(tmp_path, failing="store")
    status = {(phase.service, phase.name): phase for phase in record.phases}
    assert status[("store", "deploy")].status == "failed"
    assert status[("api", "deploy")].status == "skipped"
    assert status[("api", "deploy")].detail["reason"] == "after its dependency store failed"
    assert status[("web", "deploy")].status == "ok"  # independent: deployed all the same
    probes = [phase for phase in record.phases if phase.name == "probe"]
    assert {phase.status for phase in probes} == {"skipped"}
    assert (
        probes[0].detail["reason"]
        == "after store, api did not deploy (nothing is probed against a half-started system)"
    )
    assert not any(entry.endswith("/probe") for entry in log) and "api/deploy" not in log
    assert record.status == "failed"
