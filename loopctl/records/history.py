"""One row per iteration, read from the records: the table, the JSON envelope and the depth trend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopctl.outside import printable
from loopctl.records.compare import pass_rates
from loopctl.records.record import Record

if TYPE_CHECKING:
    from rich.console import Console

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


def history_json(rows: Sequence[HistoryRow]) -> dict[str, Any]:
    """The versioned envelope `loopctl history --json` prints."""
    return {"schema": HISTORY_SCHEMA, "iterations": [asdict(row) for row in rows]}


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


def render_history(rows: Sequence[HistoryRow], console: Console) -> None:
    """A rich table of the rows and the trend line under it."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="loopctl history", title_justify="left")
    for column in ("#", "date", "commit", "status", "blocking outcome", "depth", "P1 pass rate"):
        table.add_column(column, justify="right" if column in ("#", "depth") else "left")
    for row in rows:
        depth = f"{row.depth}/5" if row.depth is not None else "—"
        cells = (str(row.number), row.date, row.commit or "—", row.status, blocking_text(row), depth, row.p1_rate)
        table.add_row(*(Text(printable(cell)) for cell in cells))
    console.print(table)
    console.print(trend_line(rows), markup=False, highlight=False)


def _percent(value: int | None) -> str:
    return f"{value}%" if value is not None else "—"
