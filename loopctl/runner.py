"""Runs the phases in order, times them, turns expected failures and Ctrl-C into data, and saves the record."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from loopctl.config import Config
from loopctl.config.services import ServiceView
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.base import (
    Context,
    Event,
    EventSink,
    Phase,
    PhaseResult,
    RunOptions,
    build_contexts,
    internal_error,
)
from loopctl.records.changes import changes_since
from loopctl.records.compare import blocking_outcome, iteration_status
from loopctl.records.record import (
    GATING_PHASES,
    RECORD_SCHEMA,
    Changes,
    CheckRecord,
    ErrorInfo,
    PhaseRecord,
    Record,
)
from loopctl.records.sections import Sections
from loopctl.records.store import Store, Unreadable
from loopctl.secrets import redact_tree
from loopctl.secrets.references import register_all


@dataclass(frozen=True)
class IterationResult:
    record: Record
    previous: Record | None
    report: str
    skipped_records: list[Unreadable]
    report_path: Path


Renderer = Callable[[Record, Record | None, Sequence[Record]], str]


@dataclass(frozen=True)
class ServicePlan:
    """One service's phases (several services): run with a context of its own, in deploy order."""

    view: ServiceView
    phases: Sequence[Phase]


@dataclass(frozen=True)
class Ran:
    """One phase as it ran (or was skipped): whose, what it gave, how long it took."""

    name: str
    result: PhaseResult
    duration_s: float
    service: str | None = None


def run_iteration(
    config: Config,
    phases: Sequence[Phase],
    *,
    render: Renderer,
    on_event: EventSink,
    skip: frozenset[str] = frozenset(),
    options: RunOptions | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    services: Sequence[ServicePlan] = (),
) -> IterationResult:
    """One iteration: lock, number, run phases, compare, save record and report.

    `services`: several services, each with its phases; `phases` are then the project's own (its suites), run
    once every service has been probed.
    """
    register_all(config)
    store = Store(config.path(config.iterations_dir))
    with store.lock():
        number = store.reserve_number()
        started = clock()
        ctx = Context(config, store, number, on_event, options or RunOptions())
        with sigterm_as_interrupt():
            if services:
                ran, sections = _run_services(services, phases, ctx, skip)
            else:
                ran, sections = _run_phases(phases, ctx, skip), {None: ctx.sections}
        aborted = any(step.result.status == "aborted" for step in ran)
        records, unreadable = store.recent(config.report.trend - 1, before=number)
        record = _assemble(config, number, started, clock(), ran, sections, ctx.git(), services)
        previous = store.previous_probed(number, read=records)
        status = iteration_status(record, previous, aborted=aborted)
        record = record.model_copy(update={"status": status, "previous": previous.number if previous else None})
        record = _with_changes(config, record, previous)
        trend = [*records, record]
        report = _rendered(render, record, previous, trend)
        store.save(record, report)
    return IterationResult(record, previous, report, unreadable, store.report_path(number))


def _rendered(render: Renderer, record: Record, previous: Record | None, trend: Sequence[Record]) -> str:
    """The report; if rendering fails (a bug), a short one that says so, so the record is never lost with it."""
    try:
        return render(record, previous, trend)
    except Exception as err:
        error = internal_error(err)
        return (
            f"# Iteration {record.number}: {record.status.replace('_', ' ')}\n\n"
            f"The report could not be rendered ({error.message}); the record {record.number:04d}.json is complete, "
            "and `loopctl report` renders it again.\n"
        )


def _run_phases(
    phases: Sequence[Phase], ctx: Context, skip: frozenset[str], *, stopped_by: str | None = None
) -> list[Ran]:
    """The phases in order; after a gating phase fails or one is interrupted, the rest are skipped, saying why."""
    ran: list[Ran] = []
    for phase in phases:
        if stopped_by is not None or phase.name in skip:
            ran.append(_skipped(phase.name, ctx, f"after {stopped_by}" if stopped_by else "skipped by --skip"))
            continue
        result, duration = _timed(phase, ctx)
        ran.append(Ran(phase.name, result, duration, ctx.service))
        ctx.results[phase.name] = result
        if result.section is not None:
            ctx.sections.fill(result.section)
        if result.status == "aborted":
            stopped_by = f"{phase.name} was interrupted"
        elif result.status == "failed" and phase.name in GATING_PHASES:
            stopped_by = f"{phase.name} failed"
    return ran


def _skipped(name: str, ctx: Context, reason: str) -> Ran:
    ctx.on_event(Event("end", name, reason, "skipped", 0.0, service=ctx.service))
    return Ran(name, PhaseResult("skipped", {"reason": reason}), 0.0, ctx.service)


def _run_services(
    plans: Sequence[ServicePlan], after: Sequence[Phase], root: Context, skip: frozenset[str]
) -> tuple[list[Ran], dict[str | None, Sections]]:
    """Several services: each one's build, push and deploy in deploy order (a dependency's failure skips its
    dependents); then every service's probe, only when all of them deployed; then the project's suites; then
    each service's release (Cloud Run's promotion waits for the verdict, as with one service)."""
    contexts = {plan.view.name: _service_context(plan, root) for plan in plans}
    root.git()  # read once, before the builds that name its commit run side by side and would each read it
    prepared, stopped = _prepare_all(plans, contexts, skip)
    ran: list[Ran] = [step for plan in plans for step in prepared[plan.view.name]]
    failed: dict[str, str] = {}  # service → why its dependents are skipped
    for plan in plans:
        name = plan.view.name
        ctx = contexts[name]
        deploys = [phase for phase in plan.phases if phase.name == "deploy"]
        blocked = next((need for need in plan.view.depends_on if need in failed), None)
        unbuilt = next((step.name for step in prepared[name] if step.result.status == "failed"), None)
        why = stopped
        if why is None and blocked is not None:
            why, failed[name] = f"its dependency {blocked} {failed[blocked]}", "could not start"
        elif why is None and unbuilt is not None:
            why, failed[name] = f"{unbuilt} failed", "failed"
        steps = _run_phases(deploys, ctx, skip, stopped_by=why)
        ran += steps
        if any(step.result.status == "aborted" for step in steps):
            stopped = "an interrupt"
        if any(step.result.status == "failed" for step in steps):
            failed[name] = "failed"
        _share(ctx)
    half = [name for name in contexts if name in failed]
    if stopped is None and half:
        stopped = f"{', '.join(half)} did not deploy (nothing is probed against a half-started system)"
    for plan in plans:
        probes = [phase for phase in plan.phases if phase.name == "probe"]
        ran += _run_phases(probes, contexts[plan.view.name], skip, stopped_by=stopped)
    ran += _run_phases(after, root, skip, stopped_by=stopped)
    for plan in plans:
        ctx = contexts[plan.view.name]
        ctx.results.update(root.results)  # the project's suites: a release that would promote hears them too
        rest = [phase for phase in plan.phases if phase.name not in (*GATING_PHASES, "probe")]
        ran += _run_phases(rest, ctx, skip, stopped_by=stopped)
    return ran, {name: ctx.sections for name, ctx in contexts.items()}


BUILDS_AT_ONCE = 2  # services built (and pushed) side by side: the engine's builds share the machine's cores


def _prepare_all(
    plans: Sequence[ServicePlan], contexts: dict[str, Context], skip: frozenset[str]
) -> tuple[dict[str, list[Ran]], str | None]:
    """Every service's build and push, at most BUILDS_AT_ONCE at a time: none waits for another's (only deploys
    follow the dependencies). Ctrl-C is taken here, in the waiting thread: the builds still under way are recorded
    as interrupted and left to end with the process (their threads are daemons)."""
    done: dict[str, list[Ran]] = {}
    slots = threading.Semaphore(BUILDS_AT_ONCE)

    def prepare(plan: ServicePlan) -> None:
        with slots:
            phases = [phase for phase in plan.phases if phase.name in GATING_PHASES and phase.name != "deploy"]
            done[plan.view.name] = _run_phases(phases, contexts[plan.view.name], skip)

    workers = [threading.Thread(target=prepare, args=(plan,), daemon=True, name="loopctl-build") for plan in plans]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():
                worker.join(0.1)  # a short wait, so Ctrl-C (and SIGTERM) reach this thread at once
    except KeyboardInterrupt:
        interrupted = ErrorInfo(kind=ErrorKind.INTERRUPTED, message="interrupted (Ctrl-C or SIGTERM)")
        for plan in plans:
            done.setdefault(
                plan.view.name, [Ran("build", PhaseResult("aborted", error=interrupted), 0.0, plan.view.name)]
            )
        return dict(done), "an interrupt"
    aborted = any(step.result.status == "aborted" for steps in done.values() for step in steps)
    return done, "an interrupt" if aborted else None


def _service_context(plan: ServicePlan, root: Context) -> Context:
    """A service's own context: its view of the config and its sections; the iteration's memo and peers shared."""
    return Context(
        plan.view.config,
        root.store,
        root.number,
        root.on_event,
        root.options,
        memo=root.memo,
        service=plan.view.name,
        peers=root.peers,
        deployed=root.deployed,
        project_config=root.config,
    )


def _share(ctx: Context) -> None:
    """A deployed service's section, for its dependents' evidence; and, unless its deploy phase said how it is
    reached (a container by its name on the project network, Cloud Run by its service URL), its URL."""
    deploy = ctx.sections.deploy
    if deploy is None or ctx.service is None:
        return
    ctx.deployed[ctx.service] = deploy  # a companion that publishes no port still has a log to read
    if ctx.service not in ctx.peers and deploy.url:
        ctx.share(deploy.url)


def _timed(phase: Phase, ctx: Context) -> tuple[PhaseResult, float]:
    """The one place a phase's exceptions become its status."""
    ctx.on_event(Event("start", phase.name, service=ctx.service))
    began = time.monotonic()
    try:
        result = phase.run(ctx)
    except LoopctlError as err:
        result = PhaseResult("failed", error=ErrorInfo(kind=err.kind, message=err.message, hint=err.hint))
    except KeyboardInterrupt:
        result = PhaseResult(
            "aborted", error=ErrorInfo(kind=ErrorKind.INTERRUPTED, message="interrupted (Ctrl-C or SIGTERM)")
        )
    except Exception as err:  # a bug, or something no phase foresaw: this phase failed, the iteration is still recorded
        result = PhaseResult("failed", error=internal_error(err))
    duration = round(time.monotonic() - began, 3)
    message = result.error.message if result.error else ""
    ctx.on_event(Event("end", phase.name, message, result.status, duration, service=ctx.service))
    return result, duration


def _assemble(
    config: Config,
    number: int,
    started: datetime,
    finished: datetime,
    ran: list[Ran],
    sections: dict[str | None, Sections],
    git: dict[str, Any],
    plans: Sequence[ServicePlan],
) -> Record:
    checks = [_owned(check, step.service) for step in ran for check in step.result.checks]
    suites = [suite for step in ran for suite in step.result.suites]
    phases = [
        PhaseRecord(
            name=step.name,
            service=step.service,
            status=step.result.status,
            duration_s=step.duration_s,
            detail=step.result.detail,
            error=step.result.error,
        )
        for step in ran
    ]
    raw = {
        "schema": RECORD_SCHEMA,
        "number": number,
        "project": config.project,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "status": "failed",
        "git": git,
        "phases": [_dumped(phase) for phase in phases],
        "checks": [check.model_dump(mode="json") for check in checks],
        "suites": [suite.model_dump(mode="json") for suite in suites],
    }
    if plans:
        needs = {plan.view.name: list(plan.view.depends_on) for plan in plans}
        raw["services"] = {
            name: {"depends_on": needs[name], **_sections(held)} for name, held in sections.items() if name
        }
    else:
        raw |= _sections(sections[None])
    outcome = blocking_outcome(checks)
    raw["outcome"] = outcome.model_dump(mode="json") if outcome else None
    # Everything that reaches disk passes the redaction filter, whatever a phase put in it.
    return Record.model_validate(redact_tree(raw))


def _dumped(phase: PhaseRecord) -> dict[str, Any]:
    """A phase as the record keeps it; `service` only with several services (one service's records stay as before)."""
    dumped = phase.model_dump(mode="json")
    if dumped.get("service") is None:
        dumped.pop("service", None)
    return dumped


def _sections(held: Sections) -> dict[str, Any]:
    named = (("build", held.build), ("push", held.push), ("deploy", held.deploy), ("release", held.release))
    return {name: section.model_dump(mode="json") for name, section in named if section is not None}


def _owned(check: CheckRecord, service: str | None) -> CheckRecord:
    return check if service is None else check.model_copy(update={"service": service})


def _with_changes(config: Config, record: Record, previous: Record | None) -> Record:
    """What changed since the iteration this one is compared with (the report's "Changes since iteration N")."""
    if previous is None:
        return record
    try:
        found = changes_since(
            previous,
            record,
            folder=config.base_dir,
            contexts=build_contexts(config),
            config_file=config.config_file,
            excluded=[config.path(config.iterations_dir)],  # records and reports are outputs, not changes
        )
    except Exception as err:  # what changed is a courtesy: never worth the iteration's record
        found = {"since": previous.number, "in_git": False, "note": f"not compared: {internal_error(err).message}"}
    return record.model_copy(update={"changes": Changes.model_validate(redact_tree(found))})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: whoever catches the one stops cleanly on the other."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) ends the run the way Ctrl-C does: aborted, but recorded."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
