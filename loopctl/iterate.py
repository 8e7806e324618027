"""What `loopctl iterate` does around the runner: choose phases, show progress, write the outputs."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loopctl.config import Config, load_config
from loopctl.errors import UsageError
from loopctl.exitcodes import ExitCode, for_record
from loopctl.phases.base import Event, EventSink, RunOptions
from loopctl.records.compare import verdict_line
from loopctl.records.record import PHASE_ORDER, Record
from loopctl.runner import IterationResult, ServicePlan, run_iteration
from loopctl.secrets import iteration_scope
from loopctl.terminal.console import in_ci, shown, stderr_console


@dataclass(frozen=True)
class IterateOptions:
    config_path: Path
    skip: str = ""
    image: str | None = None
    no_cache: bool = False
    as_json: bool = False
    junit_xml: Path | None = None
    fail_on: str = "any"
    ci: bool = False
    emoji: bool = True
    on_event: EventSink | None = None  # also told every phase event (the MCP server's progress)
    services: tuple[str, ...] = ()  # `--service NAME`: those services and their dependencies only


def parse_skip(text: str) -> frozenset[str]:
    names = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(names - set(PHASE_ORDER))
    if unknown:
        raise UsageError(
            f"--skip names unknown phase(s): {', '.join(unknown)}", hint=f"phases: {', '.join(PHASE_ORDER)}"
        )
    return names


def run_iterate(options: IterateOptions) -> ExitCode:
    """Run one iteration and render it; the exit code is reduced from the record."""
    return iterate_once(options)[0]


def iterate_once(options: IterateOptions) -> tuple[ExitCode, Record]:
    """One iteration: its exit code and its record (for `loop`, which decides whether to go on).

    The secrets it reads and the tokens it mints are masked until it has said all it says, then forgotten: the
    next iteration reads and mints its own, so a long `loop` masks as fast at iteration 500 as at 5.
    """
    with iteration_scope():
        return _iterate_once(options)


def _iterate_once(options: IterateOptions) -> tuple[ExitCode, Record]:
    from loopctl.phases import phases_for, project_phases
    from loopctl.reports.markdown import render_markdown
    from loopctl.terminal.live import progress

    config = load_config(options.config_path)
    skip = parse_skip(options.skip) | ({"build", "push"} if options.image else frozenset())
    plans = service_plans(config, options.services)
    if plans and options.image:
        raise UsageError(
            "--image deploys one image, and this config has several services",
            hint="let each service build, or name a companion's image in its deploy.docker.image",
        )
    phases = phases_for(config) if not plans else project_phases(config)
    live = not (options.ci or in_ci()) and sys.stderr.isatty()

    def render(record: Record, previous: Record | None, trend: Sequence[Record]) -> str:
        return render_markdown(record, previous, trend=trend, emoji=options.emoji and config.report.emoji)

    run_options = RunOptions(image=options.image, no_cache=options.no_cache)
    names = [f"{plan.view.name}/{phase.name}" for plan in plans for phase in plan.phases]
    with progress([*names, *(phase.name for phase in phases)], live=live) as shown_live:
        on_event = shown_live if options.on_event is None else _both(shown_live, options.on_event)
        result = run_iteration(
            config, phases, render=render, on_event=on_event, skip=skip, options=run_options, services=plans
        )
    _publish(result, options)
    return for_record(result.record, fail_on=options.fail_on), result.record


def service_plans(config: Config, names: Sequence[str]) -> list[ServicePlan]:
    """Several services: each one's phases, in deploy order (`--service`: those and their dependencies); one
    service: none, its phases run as they always have."""
    from loopctl.config.services import selected, service_views
    from loopctl.phases import phases_for

    if config.services is None:
        if names:
            raise UsageError(
                "--service needs a config with services:", hint="this config describes one service: drop --service"
            )
        return []
    return [ServicePlan(view, phases_for(view.config)) for view in selected(service_views(config), names)]


def _both(first: EventSink, second: EventSink) -> EventSink:
    def tell(event: Event) -> None:
        first(event)
        second(event)

    return tell


def _publish(result: IterationResult, options: IterateOptions) -> None:
    from loopctl.records.store import store_errors, write_atomic
    from loopctl.terminal.output import emit_json

    record = result.record
    console = stderr_console()
    for unreadable in result.skipped_records:
        console.print(f"warning: skipped {unreadable.path}: {unreadable.reason}", markup=False)
    if options.junit_xml is not None:
        from loopctl.reports.junit import junit_xml

        with store_errors(f"cannot write --junit-xml {options.junit_xml}"):
            write_atomic(options.junit_xml, junit_xml(record))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with (
            store_errors(f"cannot append to GITHUB_STEP_SUMMARY {summary}"),
            open(summary, "a", encoding="utf-8") as stream,
        ):
            stream.write(result.report + "\n")
    if options.as_json:  # last: an output that cannot be written is one error document instead
        emit_json("iterate", record.to_json_dict(), exit_code=for_record(record, fail_on=options.fail_on))
    console.print(shown(f"iteration {record.number}: {record.status} — {verdict_line(record)}"), markup=False)
    console.print(f"report: {result.report_path}", markup=False)
