"""Runs the phases in order, times them, turns expected failures and Ctrl-C into data, and saves the record."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from loopctl.config import Config
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.base import Context, Event, EventSink, Phase, PhaseResult, RunOptions, internal_error
from loopctl.records.changes import changes_since
from loopctl.records.compare import blocking_outcome, iteration_status
from loopctl.records.record import (
    GATING_PHASES,
    RECORD_SCHEMA,
    Changes,
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


def run_iteration(
    config: Config,
    phases: Sequence[Phase],
    *,
    render: Renderer,
    on_event: EventSink,
    skip: frozenset[str] = frozenset(),
    options: RunOptions | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IterationResult:
    """One iteration: lock, number, run phases, compare, save record and report."""
    register_all(config)
    store = Store(config.path(config.iterations_dir))
    with store.lock():
        number = store.reserve_number()
        started = clock()
        ctx = Context(config, store, number, on_event, options or RunOptions())
        results, aborted = _run_phases(phases, ctx, skip)
        records, unreadable = store.recent(config.report.trend - 1, before=number)
        record = _assemble(config, number, started, clock(), results, ctx.sections, ctx.git())
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
    phases: Sequence[Phase], ctx: Context, skip: frozenset[str]
) -> tuple[list[tuple[str, PhaseResult, float]], bool]:
    results: list[tuple[str, PhaseResult, float]] = []
    stopped_by: str | None = None
    with sigterm_as_interrupt():
        for phase in phases:
            if stopped_by is not None or phase.name in skip:
                reason = f"after {stopped_by}" if stopped_by else "skipped by --skip"
                results.append((phase.name, PhaseResult("skipped", {"reason": reason}), 0.0))
                ctx.on_event(Event("end", phase.name, reason, "skipped", 0.0))
                continue
            result, duration = _timed(phase, ctx)
            results.append((phase.name, result, duration))
            ctx.results[phase.name] = result
            if result.section is not None:
                ctx.sections.fill(result.section)
            if result.status == "aborted":
                stopped_by = f"{phase.name} was interrupted"
            elif result.status == "failed" and phase.name in GATING_PHASES:
                stopped_by = f"{phase.name} failed"
    aborted = any(result.status == "aborted" for _, result, _ in results)
    return results, aborted


def _timed(phase: Phase, ctx: Context) -> tuple[PhaseResult, float]:
    """The one place a phase's exceptions become its status."""
    ctx.on_event(Event("start", phase.name))
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
    ctx.on_event(Event("end", phase.name, message, result.status, duration))
    return result, duration


def _assemble(
    config: Config,
    number: int,
    started: datetime,
    finished: datetime,
    results: list[tuple[str, PhaseResult, float]],
    sections: Sections,
    git: dict[str, Any],
) -> Record:
    checks = [check for _, result, _ in results for check in result.checks]
    suites = [suite for _, result, _ in results for suite in result.suites]
    phases = [
        PhaseRecord(name=name, status=result.status, duration_s=duration, detail=result.detail, error=result.error)
        for name, result, duration in results
    ]
    raw = {
        "schema": RECORD_SCHEMA,
        "number": number,
        "project": config.project,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "status": "failed",
        "git": git,
        "phases": [phase.model_dump(mode="json") for phase in phases],
        **{
            name: section.model_dump(mode="json")
            for name, section in (
                ("build", sections.build),
                ("push", sections.push),
                ("deploy", sections.deploy),
                ("release", sections.release),
            )
            if section is not None
        },
        "checks": [check.model_dump(mode="json") for check in checks],
        "suites": [suite.model_dump(mode="json") for suite in suites],
    }
    outcome = blocking_outcome(checks)
    raw["outcome"] = outcome.model_dump(mode="json") if outcome else None
    # Everything that reaches disk passes the redaction filter, whatever a phase put in it.
    return Record.model_validate(redact_tree(raw))


def _with_changes(config: Config, record: Record, previous: Record | None) -> Record:
    """What changed since the iteration this one is compared with (the report's "Changes since iteration N")."""
    if previous is None:
        return record
    context = config.path(config.build.context) if config.build is not None else None
    try:
        found = changes_since(
            previous,
            record,
            folder=config.base_dir,
            context=context,
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
