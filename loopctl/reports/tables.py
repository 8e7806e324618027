"""The report's tables and markdown primitives: deployment, results compared, metrics and trend."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from loopctl.config.services import deploy_order
from loopctl.errors import ErrorKind
from loopctl.outside_text import printable
from loopctl.records.compare import PRIORITIES, STAGE_NAMES, pass_rates, stage_of
from loopctl.records.history import blocking_text, history_rows
from loopctl.records.record import CheckRecord, OutcomeRecord, Record, SuiteRecord

DASH = "—"
SHORT_DIGEST = 12
_Named = TypeVar("_Named", CheckRecord, SuiteRecord)
_Owned = TypeVar("_Owned")
PHASE_MARKS = {"ok": "✅", "failed": "❌", "skipped": "⏭️", "aborted": "⏹️"}


# Characters that would make outside text into markup in running markdown: HTML (`<`, `>`, `&`), links (`[`, `]`),
# code spans, emphasis and strikethrough. `|` is left to `cell`, the only place it means anything.
_MARKUP = re.compile(r"([\\`*<>&\[\]~])")


def text(value: str) -> str:
    """Outside text in running markdown: one line, no control characters, every markup character escaped.

    One line means it cannot open a heading, a list or a fence; escaped means it cannot open a link, a code span
    or an HTML tag. Records keep the text as it was said; this escaping belongs to the markdown sink alone.
    """
    return _MARKUP.sub(r"\\\1", " ".join(printable(value).split()))


def code(value: str) -> str:
    """An inline code span, fenced with more backticks than the text holds so none can end it early."""
    value = " ".join(printable(value).split())
    if not value:
        return DASH
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {value} {fence}" if longest else f"{fence}{value}{fence}"


def fence_for(body: str) -> str:
    """A code fence longer than any run of backticks in `body`, so no line of it can close the block."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def cell(value: str) -> str:
    """A table cell: one line, with `|` escaped (GitHub honours `\\|` inside code spans too)."""
    return " ".join(value.split()).replace("|", "\\|") or DASH


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(cell(header) for header in headers) + " |"]
    lines.append("| " + " | ".join("---" for _ in headers) + " |")
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def stage(depth: int) -> str:
    """`message processing`: the name of a depth on the request path."""
    return STAGE_NAMES.get(depth, f"depth {depth}")


def stage_reached(outcome: OutcomeRecord) -> str:
    """Where an outcome stopped, in words: its depth's stage, an auth refusal at the upgrade being authentication."""
    return stage(stage_of(outcome))


def mark(passed: bool, *, emoji: bool) -> str:
    if emoji:
        return "✅" if passed else "❌"
    return "PASS" if passed else "FAIL"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def millis(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None else DASH


def short_digest(digest: str) -> str:
    """`sha256:1bcc32cc10c6` — enough to tell images apart in a table."""
    algorithm, _, hexdigest = digest.rpartition(":")
    return f"{algorithm}:{hexdigest[:SHORT_DIGEST]}" if algorithm else digest[:SHORT_DIGEST]


def wall_time(record: Record) -> float | None:
    """finished_at − started_at in seconds, when both parse."""
    try:
        started = datetime.fromisoformat(record.started_at)
        finished = datetime.fromisoformat(record.finished_at)
        return (finished - started).total_seconds()
    except (TypeError, ValueError):
        return None


def several(record: Record) -> bool:
    """Whether the record is of several services: only then does the report name them."""
    return record.services is not None


def service_order(record: Record) -> list[str]:
    """The record's services in deploy order: dependencies first, else in the order their phases ran (a record on
    disk keeps its mapping's keys sorted, so the order of `services` itself says nothing)."""
    services = record.services or {}
    ran = [phase.service for phase in record.phases if phase.service in services]
    listed = list(dict.fromkeys([*ran, *services]))
    ordered = deploy_order({name: services[name].depends_on for name in listed})
    return [name for name in ordered if name in services]  # a dependency the record does not hold is not shown


def owned_name(record: Record, service: str | None, name: str) -> str:
    """`api: chat` with several services, else `chat`; not escaped (each sink escapes its own)."""
    return f"{service}: {name}" if several(record) and service else name


# ----------------------------------------------------------------------------- messages


def headline(message: str) -> str:
    """The first line of a message (a container's log may follow it), escaped for running markdown."""
    return text(message.strip().split("\n", 1)[0])


def fenced_details(message: str) -> list[str]:
    """Whatever follows a message's first line, fenced so markdown shows it verbatim."""
    rest = message.strip().split("\n", 1)[1:]
    if not rest:
        return []
    body = printable(rest[0]).rstrip()
    fence = fence_for(body)
    return [f"{fence}text", body, fence, ""]


# ----------------------------------------------------------------------------- results compared


def results_table(record: Record, previous: Record | None, *, emoji: bool) -> list[str]:
    """Pass rates per priority, then one row per suite and per check, one column per iteration; with several
    services, a Service column and the checks grouped by service in deploy order."""
    records = [previous, record] if previous is not None else [record]
    owners = _owners(records)
    headers = ["Measure", *(f"Iteration {each.number}" for each in records)]
    rates = [pass_rates(each) for each in records]
    suites, checks = [by_name(each.suites) for each in records], [by_name(each.checks) for each in records]
    rows: list[tuple[str | None, list[str]]] = []
    for index, priority in enumerate(PRIORITIES):
        if any(rate[index].total for rate in rates):
            rows.append((None, [f"Priority {priority}", *(rate[index].text() for rate in rates)]))
    for name in _names([each.suites for each in reversed(records)]):
        rows.append((None, [f"{text(name)} (suite)", *(_suite_cell(found.get(name)) for found in suites)]))
    for name in _in_deploy_order(record, _names([each.checks for each in reversed(records)]), owners):
        cells = [_check_cell(found.get(name), emoji=emoji) for found in checks]
        rows.append((owners.get(name), [text(name), *cells]))
    return owned_table(record, headers, rows)


def events_table(record: Record, previous: Record | None, *, emoji: bool) -> list[str]:
    """Per expected event of each websocket check, whether it arrived; empty when no check expects events."""
    records = [previous, record] if previous is not None else [record]
    owners = _owners(records)
    with_events = [[check for check in each.checks if check.events_expected] for each in reversed(records)]
    names = _names(with_events)
    expecting = {name: check for checks in reversed(with_events) for name, check in by_name(checks).items()}
    checks = [by_name(each.checks) for each in records]
    rows = []
    for name in _in_deploy_order(record, names, owners):
        for event in expecting[name].events_expected:
            label = text(f"{name}: {event}" if len(names) > 1 else event)
            rows.append(
                (owners.get(name), [label, *(_event_cell(found.get(name), event, emoji=emoji) for found in checks)])
            )
    if not rows:
        return []
    return owned_table(record, ["Event", *(f"Iteration {each.number}" for each in records)], rows)


def owned_table(record: Record, headers: Sequence[str], rows: Sequence[tuple[str | None, Sequence[str]]]) -> list[str]:
    """A table whose rows each belong to a service (None: to the project): with several services, a Service
    column first names it; a record of one service has no such column."""
    if not several(record):
        return table(headers, [row for _, row in rows])
    return table(["Service", *headers], [[service_cell(service), *row] for service, row in rows])


def service_cell(service: str | None) -> str:
    return text(service) if service else DASH


def _owners(records: Sequence[Record]) -> dict[str, str | None]:
    """Each check's service, as the newest record that ran it says."""
    return {check.name: check.service for each in records for check in each.checks}


def _in_deploy_order(record: Record, names: Sequence[str], owners: dict[str, str | None]) -> list[str]:
    """Names grouped by their service, services in deploy order (as the record lists them), each group in order."""
    return [name for _, group in by_service(record, names, owners.get) for name in group]


def by_service(
    record: Record, items: Iterable[_Owned], service: Callable[[_Owned], str | None]
) -> list[tuple[str | None, list[_Owned]]]:
    """Items grouped by their service, services in deploy order (dependencies first), then those of none."""
    order: list[str | None] = [*service_order(record), None]
    groups: dict[str | None, list[_Owned]] = {}
    for item in items:
        groups.setdefault(service(item), []).append(item)
    named = [(name, groups[name]) for name in order if name in groups]
    return named + [(name, found) for name, found in groups.items() if name not in order]


def _names(groups: Sequence[Sequence[CheckRecord] | Sequence[SuiteRecord]]) -> list[str]:
    """Names in the order the first group lists them, then those only later groups have."""
    names: dict[str, None] = {}
    for group in groups:
        names.update((item.name, None) for item in group)
    return list(names)


def by_name(items: Sequence[_Named]) -> dict[str, _Named]:
    """Each check or suite by its name, the first one listed when a (tampered) record repeats a name: made once per
    record, as a scan per name would make a report of many checks quadratic."""
    return {item.name: item for item in reversed(items)}


def _check_cell(check: CheckRecord | None, *, emoji: bool) -> str:
    if check is None:
        return "not run"
    if not check.ran:
        return f"could not run ({text(check.error.kind if check.error else 'error')})"
    return f"{mark(check.passed, emoji=emoji)} {text(check.outcome.category)}"


def _suite_cell(suite: SuiteRecord | None) -> str:
    if suite is None:
        return "not run"
    if suite.error is not None and suite.passed + suite.failed == 0:
        return f"could not run ({text(suite.error.kind)})"
    exited = f", exit {suite.exit_code}" if suite.error is not None and suite.error.kind == ErrorKind.EXIT_CODE else ""
    return f"{suite.passed}/{suite.passed + suite.failed}{exited}"


def _event_cell(check: CheckRecord | None, event: str, *, emoji: bool) -> str:
    return "not run" if check is None or not check.ran else mark(arrived(check, event), emoji=emoji)


def arrived(check: CheckRecord, event: str) -> bool:
    """Whether an expected event arrived: `events_seen` may be a sample, `events_missing` is exact."""
    return event in check.events_expected and event not in check.events_missing


# ----------------------------------------------------------------------------- metrics


def durations_table(record: Record) -> list[str]:
    rows = [
        [
            text(owned_name(record, phase.service, phase.name)),
            DASH if phase.status == "skipped" else seconds(phase.duration_s),
        ]
        for phase in record.phases
    ]
    rows.append(["Total (phases)", seconds(sum(phase.duration_s for phase in record.phases))])
    wall = wall_time(record)
    rows.append(["Wall time (started → finished)", seconds(wall) if wall is not None else DASH])
    return table(["Phase", "Duration"], rows)


def latency_table(record: Record) -> list[str]:
    if not record.checks:
        return []
    rows = [
        [
            text(owned_name(record, check.service, check.name)),
            *(millis(check.latency_ms.get(key)) for key in ("connect", "first_event", "total")),
        ]
        for check in record.checks
        if check.ran
    ]
    if not rows:
        return []
    return table(["Check", "Connect", "First event", "Total"], rows)


def load_table(record: Record) -> list[str]:
    """Checks run under load: sessions, outcomes, and latency percentiles (p50 / p95 / p99)."""
    rows = []
    for check in record.checks:
        load = check.load
        if not load:
            continue
        outcomes = ", ".join(f"{text(category)} {count}" for category, count in load.outcomes.items())
        spreads = [
            " / ".join(millis(row.get(q)) for q in ("p50", "p95", "p99"))
            for row in (load.latency_ms.get(key, {}) for key in ("connect", "first_event", "total"))
        ]
        sessions = f"{load.sessions} at {load.concurrency}"
        rows.append([text(check.name), sessions, cell(outcomes), *spreads])
    if not rows:
        return []
    return table(["Check", "Sessions", "Outcomes", "Connect p50/p95/p99", "First event", "Total"], rows)


def trend_points(record: Record, trend: Sequence[Record]) -> list[Record]:
    """The trend's records oldest first, this one included once."""
    by_number = {each.number: each for each in trend}
    if trend:
        by_number[record.number] = record
    return [by_number[number] for number in sorted(by_number)]


def trend_table(points: Sequence[Record]) -> list[str]:
    rows = [
        [
            str(row.number),
            text(row.status.replace("_", " ")),
            text(blocking_text(row)),
            f"{row.depth}/5" if row.depth is not None else DASH,
            row.p1_rate,
        ]
        for row in history_rows(points)
    ]
    return table(["Iteration", "Status", "Blocking outcome", "Depth", "P1 pass rate"], rows)


def trend_chart(points: Sequence[Record]) -> list[str]:
    """A mermaid xychart: depth as bars, P1 pass rate as a line on the same 0–5 axis (5 = 100%)."""
    rows = [row for row in history_rows(points) if row.depth is not None]
    if len(rows) < 2:
        return []
    labels = ", ".join(f'"{row.number}"' for row in rows)
    lines = [
        "```mermaid",
        "xychart-beta",
        '    title "Depth (bars, 0 to 5) and P1 pass rate (line, 5 = 100%)"',
        f'    x-axis "Iteration" [{labels}]',
        '    y-axis "Depth" 0 --> 5',
        f"    bar [{', '.join(str(row.depth) for row in rows)}]",
    ]
    if all(row.p1_percent is not None for row in rows):
        lines.append(f"    line [{', '.join(f'{(row.p1_percent or 0) / 20:g}' for row in rows)}]")
    return [*lines, "```"]
