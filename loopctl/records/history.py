"""One row per iteration, read from the records: the table, the JSON envelope and the depth trend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopctl.outside_text import printable

if TYPE_CHECKING:
    from rich.console import Console

    from loopctl.records.record import Record

HISTORY_SCHEMA = 1
SHORT_SHA = 7
# One bar per depth on the ladder, 0 (no connection) to 5 (success).
DEPTH_BARS = ("▁", "▂", "▃", "▄", "▆", "█")


@dataclass(frozen=True)
class HistoryRow:
    """What one iteration reached: its status, its most blocking outcome and its P1 pass rate."""

    number: int
    date: str
    commit: str | None
    status: str
    category: str | None
    depth: int | None
    code: int | None
    p1_rate: str
    p1_percent: int | None


def utc_minute(timestamp: str) -> str:
    """`2025-09-07 18:20 UTC` from an ISO 8601 timestamp (naive ones are taken as UTC); as-is if unparseable."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def short_sha(commit: str | None) -> str | None:
    return commit[:SHORT_SHA] if commit else None


def history_row(record: Record) -> HistoryRow:
    from loopctl.records.compare import pass_rates  # only for rows not in the cache: the cached ones are text

    outcome = record.outcome
    p1 = pass_rates(record)[0]
    return HistoryRow(
        number=record.number,
        date=utc_minute(record.started_at),
        commit=record.git.short,
        status=record.status,
        category=outcome.category if outcome else None,
        depth=outcome.depth if outcome else None,
        code=outcome.code if outcome else None,
        p1_rate=p1.text(),
        p1_percent=p1.percent,
    )


def history_rows(records: Sequence[Record]) -> list[HistoryRow]:
    """One row per record, oldest first."""
    return [history_row(record) for record in sorted(records, key=lambda record: record.number)]


def history_json(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The versioned document `loopctl history --json` prints: the rows as the cache keeps them (`HistoryRow`
    fields, see loopctl.records.history_cache), emitted as they are, not rebuilt."""
    return {"schema": HISTORY_SCHEMA, "iterations": list(rows)}


def trend_line(rows: Sequence[HistoryRow]) -> str:
    """`depth ▃▄█  P1 50% → 100%`: one bar per iteration, then the first and last P1 pass rates."""
    if not rows:
        return "no iterations yet"
    bars = "".join(DEPTH_BARS[min(max(row.depth, 0), 5)] if row.depth is not None else "·" for row in rows)
    first, last = (_percent(row.p1_percent) for row in (rows[0], rows[-1]))
    p1 = f"P1 {last}" if len(rows) == 1 else f"P1 {first} → {last}"
    return f"depth {bars}  {p1}"


def blocking_text(row: HistoryRow) -> str:
    """`policy_violation (1008)`, `success`, or `—` when nothing was probed."""
    if row.category is None:
        return "—"
    return f"{row.category} ({row.code})" if row.code is not None else row.category


COLUMNS = ("#", "date", "commit", "status", "blocking outcome", "depth", "P1 pass rate")
_RIGHT = ("#", "depth")


def _cells(row: HistoryRow) -> tuple[str, ...]:
    depth = f"{row.depth}/5" if row.depth is not None else "—"
    cells = (str(row.number), row.date, row.commit or "—", row.status, blocking_text(row), depth, row.p1_rate)
    return tuple(printable(cell) for cell in cells)  # cached rows come from a file anyone could have edited


def render_history(rows: Sequence[HistoryRow], console: Console) -> None:
    """A rich table of the rows and the trend line under it."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="loopctl history", title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in _RIGHT else "left")
    for row in rows:
        table.add_row(*(Text(cell) for cell in _cells(row)))
    console.print(table)
    console.print(trend_line(rows), markup=False, highlight=False)


def history_text(rows: Sequence[HistoryRow]) -> str:
    """The same table as plain aligned text, for pipes and CI logs (no rich to load, no box drawing)."""
    table = [COLUMNS, *(_cells(row) for row in rows)]
    widths = [max(len(line[index]) for line in table) for index in range(len(COLUMNS))]
    lines = ["loopctl history"]
    for line in table:
        cells = (
            cell.rjust(width) if column in _RIGHT else cell.ljust(width)
            for cell, width, column in zip(line, widths, COLUMNS, strict=True)
        )
        lines.append("  ".join(cells).rstrip())
    return "\n".join([*lines, trend_line(rows)]) + "\n"


def _percent(value: int | None) -> str:
    return f"{value}%" if value is not None else "—"
