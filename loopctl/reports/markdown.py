"""The iteration report in markdown: a pure function of the record and the previous one."""

from __future__ import annotations

from collections.abc import Sequence

from loopctl.records.compare import (
    CheckChange,
    blocking_check,
    check_changes,
    movement,
    progress_of,
    unverified_suites,
)
from loopctl.records.history import short_sha, utc_minute
from loopctl.records.record import CheckRecord, OutcomeRecord, Record
from loopctl.records.sections import BuildSection, DeploySection, PushSection
from loopctl.reports.deployment import cloud_build_line, deployment_table
from loopctl.reports.evidence import (
    changes_section,
    evolution_lines,
    process_summary,
    quoted_error,
)
from loopctl.reports.failures import (
    failing_suites,
    failures_section,
    lead,
    priorities_section,
    quoted_check,
    stopped_phases,
)
from loopctl.reports.services import service_lines
from loopctl.reports.serving import still_serving, stopped_before_probe
from loopctl.reports.tables import (
    DASH,
    arrived,
    by_name,
    code,
    durations_table,
    events_table,
    latency_table,
    load_table,
    owned_name,
    results_table,
    service_order,
    several,
    stage_reached,
    text,
    trend_chart,
    trend_points,
    trend_table,
)

STATUS_MARKS = {
    "success": "✅",
    "progress": "➡️",
    "no_change": "⏸️",
    "regression": "⬅️",
    "failed": "❌",
    "inconclusive": "❔",
    "aborted": "⏹️",
}


def render_markdown(
    record: Record, previous: Record | None, *, trend: Sequence[Record] = (), emoji: bool = True
) -> str:
    """The whole report; every sentence comes from a field of `record` or `previous`."""
    sections = [
        _header(record, previous, emoji=emoji),
        _summary(record, previous),
        changes_section(record),
        ["## Deployment", "", *deployment_table(record, emoji=emoji)],
        _results(record, previous, emoji=emoji),
        failures_section(record),
        priorities_section(record),
        _metrics(record, trend),
        _next_command(record),
    ]
    return "\n\n".join("\n".join(lines).strip("\n") for lines in sections if lines) + "\n"


def status_words(status: str) -> str:
    return status.replace("_", " ")


# ----------------------------------------------------------------------------- header and summary


def _header(record: Record, previous: Record | None, *, emoji: bool) -> list[str]:
    title = f"{text(record.project)} — iteration" if record.project else "Iteration"
    deploy, push, build = record.deploy or DeploySection(), record.push or PushSection(), record.build or BuildSection()
    commit = short_sha(record.git.commit)
    status = status_words(record.status)
    return [
        f"# {title} {record.number}: {status}",
        "",
        f"- **Date**: {utc_minute(record.started_at)}",
        f"- **Branch**: {code(record.git.where)}",
        f"- **Commit**: {code(commit or '')}" + (" (dirty)" if record.git.dirty else ""),
        *(_services_lines(record) if several(record) else _deployment_lines(deploy, push, build)),
        f"- **Status**: {STATUS_MARKS[record.status]} {status}" if emoji else f"- **Status**: {status}",
        _compared_line(record, previous),
    ]


def _deployment_lines(deploy: DeploySection, push: PushSection, build: BuildSection) -> list[str]:
    return [
        f"- **Deployment**: {code(deploy.revision or deploy.service or '')}",
        f"- **Service URL**: {text(deploy.url or DASH)}",
        f"- **Image digest**: {code(push.digest or build.image_id or '')}",
        *cloud_build_line(build),
    ]


def _services_lines(record: Record) -> list[str]:
    """One line per service, in deploy order, then a Cloud Build link per service built there."""
    sections = record.service_sections
    links = [
        line
        for name in service_order(record)
        for line in cloud_build_line(sections[name].build or BuildSection(), label=f"Cloud Build ({text(name)})")
    ]
    return [*service_lines(record), *links]


def _compared_line(record: Record, previous: Record | None) -> str:
    if previous is not None:
        return f"- Compared with iteration {previous.number} ({utc_minute(previous.started_at)})"
    if record.number <= 1:
        return "- First iteration: nothing to compare with"
    return "- No earlier iteration ran the probe: nothing to compare with"


def _summary(record: Record, previous: Record | None) -> list[str]:
    lines = ["## Summary", ""]
    for phase in stopped_phases(record):
        assert phase.error is not None
        lines += [f"**{_owned(record, phase.service, phase.name)}** {phase.status}: {lead(phase.error.message)}", ""]
    if record.status == "inconclusive":
        lines += [_why_inconclusive(record), ""]
    lines += _server_quote(record)
    if previous is None:
        return lines + _first_summary(record)
    if stopped_before_probe(record):
        return lines + still_serving(record, previous)
    evolution = evolution_lines(record, previous)
    body = _changes_summary(record, previous)
    while body and not body[-1]:
        body = body[:-1]
    return lines + body + (["", "### Error evolution", "", *evolution] if evolution else [])


def _server_quote(record: Record) -> list[str]:
    """`**Server error**: 1011 at message processing — server raised TypeError: … (app/ws/auth.py:419)`."""
    first = quoted_check(record)
    if first is None:
        return process_summary(record)
    return [
        f"**Server error** in **{_owned(record, first.service, first.name)}**: {quoted_error(first)}",
        "",
        *process_summary(record),
    ]


def _why_inconclusive(record: Record) -> str:
    """Why no verdict: the checks that could not run, or that none ran at all."""
    not_run = [
        f"**{_owned(record, check.service, check.name)}** ({text(check.outcome.reason)})"
        for check in record.checks
        if not check.ran
    ]
    if not_run:
        return f"**Inconclusive**: could not run {', '.join(not_run)}; a check that did not run is not a pass."
    probe = record.phase("probe")
    if probe is not None and probe.status == "skipped":
        return "**Inconclusive**: the probe was skipped, so no check ran; a check that did not run is not a pass."
    suites = unverified_suites(record)
    if suites:
        return f"**Inconclusive**: {text('; '.join(suites))}; a suite that ran no test is not a pass."
    return "**Inconclusive**: no check or suite test ran in this iteration, so nothing was verified."


def _first_summary(record: Record) -> list[str]:
    outcome = record.outcome
    if outcome is None and record.suites and record.phase("probe") is None:
        passed, failed = sum(suite.passed for suite in record.suites), sum(suite.failed for suite in record.suites)
        broken = [text(suite.name) for suite in failing_suites(record)]
        tail = f"; failing: {', '.join(broken)} (under Failures)" if broken else ""
        return [f"No check is configured: the suites decide ({passed} test(s) passed, {failed} failed{tail})."]
    if outcome is None:
        return ["The probe did not run: no check outcome to report."]
    if outcome.passed:
        lines = [f"Every check passed ({len(record.checks)}/{len(record.checks)})."]
    else:
        lines = [f"**Blocking outcome**: {_outcome_sentence(record, outcome)}."]
    impacts = [
        f"- {'Working' if check.passed else 'Not working yet'}: {text(check.impact)} ({_owned_check(record, check)})"
        for check in record.checks
        if check.impact
    ]
    return [*lines, "", *impacts] if impacts else lines


def _outcome_sentence(record: Record, outcome: OutcomeRecord) -> str:
    blocking = blocking_check(record.checks)
    where = (
        f" in **{_owned(record, blocking.service, blocking.name)}**"
        if blocking is not None and blocking.outcome == outcome
        else ""
    )
    label = code(outcome.label or outcome.category)
    return f"{label}{where}, stopped at {stage_reached(outcome)} (depth {outcome.depth}/5)"


def _changes_summary(record: Record, previous: Record) -> list[str]:
    lines = _blocking_move(record, previous)
    changes = check_changes(record, previous)
    if not changes:
        return [*lines, f"No check changed outcome since iteration {previous.number}."]
    before, after = by_name(previous.checks), by_name(record.checks)
    impacts = []
    for change in changes:
        pair = (before.get(change.name), after.get(change.name))
        name = _changed_name(change.name, record, pair)
        lines += [f"**{name}**", "", *_before_after(change, pair, previous), *_events_move(pair, previous), ""]
        impacts += [line] if (line := _impact_line(change, name)) else []
    return lines + impacts


def _owned(record: Record, service: str | None, name: str) -> str:
    """A check or phase as the Summary names it: `api: chat` with several services, escaped."""
    return text(owned_name(record, service, name))


def _owned_check(record: Record, check: CheckRecord) -> str:
    return _owned(record, check.service, check.name)


def _changed_name(name: str, record: Record, pair: tuple[CheckRecord | None, CheckRecord | None]) -> str:
    """A changed check's name with its service, from whichever iteration ran it (this one first)."""
    check = pair[1] or pair[0]
    return _owned(record, check.service if check else None, name)


def _short_name(outcome: OutcomeRecord) -> str:
    """A close code or HTTP status when there is one (`1011`), else the category (`success`, `no_response`)."""
    return str(outcome.code) if outcome.code is not None and not outcome.passed else text(outcome.category)


def _blocking_move(record: Record, previous: Record) -> list[str]:
    """`**Blocking outcome**: 1008 → 1011: moved from … — progress`, when the blocking outcome moved."""
    before, after = previous.outcome, record.outcome
    if before is None or after is None or (before.category, before.code) == (after.category, after.code):
        return []
    move = f"{_short_name(before)} → {_short_name(after)}"
    now = blocking_check(record.checks)
    events = progress_of(blocking_check(previous.checks), now)
    # With several services, where it blocks now: which service's check to open first.
    where = f" in **{_owned_check(record, now)}**" if several(record) and now is not None else ""
    return [f"**Blocking outcome**{where}: {move}: {text(movement(before, after, **events))}", ""]


def _before_after(
    change: CheckChange, pair: tuple[CheckRecord | None, CheckRecord | None], previous: Record
) -> list[str]:
    before = code(change.before.label or change.before.category) if change.before else "not run"
    after = code(change.after.label or change.after.category) if change.after else "not run"
    if change.before is None and change.after is not None:
        meaning = f"not run in iteration {previous.number}; now {_where(change.after)}"
    elif change.after is None:
        meaning = "not run in this iteration"
    else:
        assert change.before is not None
        meaning = movement(change.before, change.after, **progress_of(*pair))
    return [f"- **BEFORE**: {before}", f"- **AFTER**: {after}", f"- **MEANING**: {text(meaning)}"]


def _events_move(pair: tuple[CheckRecord | None, CheckRecord | None], previous: Record) -> list[str]:
    """`- **EVENTS**: 0/5 → 1/5 expected events arrived`, for checks that expect events."""
    before, after = pair
    if not any(check is not None and check.events_expected for check in (before, after)):
        return []
    if before is None:
        return [f"- **EVENTS**: {_arrived(after)} expected events arrived (not run in iteration {previous.number})"]
    if after is None:
        return [f"- **EVENTS**: not run in this iteration ({_arrived(before)} in iteration {previous.number})"]
    return [f"- **EVENTS**: {_arrived(before)} → {_arrived(after)} expected events arrived"]


def _arrived(check: CheckRecord | None) -> str:
    if check is None or not check.ran:
        return "not run"
    matched = sum(arrived(check, event) for event in check.events_expected)
    return f"{matched}/{len(check.events_expected)}"


def _where(outcome: OutcomeRecord) -> str:
    return "passes" if outcome.passed else f"stops at {stage_reached(outcome)}"


def _impact_line(change: CheckChange, name: str) -> str | None:
    was = change.before is not None and change.before.passed
    now = change.after is not None and change.after.passed
    subject = f"{text(change.impact)} ({name})" if change.impact else name
    if now and not was:
        return f"- Now working: {subject}"
    if was and change.after is not None and not now:
        return f"- Broken now: {subject}"
    return None


# ----------------------------------------------------------------------------- results


def _results(record: Record, previous: Record | None, *, emoji: bool) -> list[str]:
    if stopped_before_probe(record):
        return []
    lines = ["## Results compared", "", *results_table(record, previous, emoji=emoji)]
    events = events_table(record, previous, emoji=emoji)
    return [*lines, "", "### Expected events", "", *events] if events else lines


# ----------------------------------------------------------------------------- metrics and next command


def _metrics(record: Record, trend: Sequence[Record]) -> list[str]:
    lines = ["## Metrics", "", "### Durations", "", *durations_table(record)]
    latency = latency_table(record)
    if latency:
        lines += ["", "### Probe latency", "", *latency]
    load = load_table(record)
    if load:
        lines += ["", "### Load", "", *load]
    points = trend_points(record, trend)
    if points:
        lines += ["", "### Trend", "", *trend_table(points)]
        chart = trend_chart(points)
        lines += ["", *chart] if chart else []
    return lines


def _next_command(record: Record) -> list[str]:
    if record.status == "success":
        return ["## Next command", "", "None: every check and suite passed, the loop can stop here."]
    return ["## Next command", "", "```sh", "loopctl iterate", "```"]
