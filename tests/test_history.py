"""History rows, JSON envelope, trend line and rich table, read from the story's records."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from loopctl.records.history import HistoryRow, history_json, history_rows, render_history, trend_line
from loopctl.records.history_cache import cached_rows
from loopctl.records.store import Store
from tests.support.records import http_check, make_record, story


def test_the_story_reads_as_one_row_per_iteration() -> None:
    rows = history_rows(story())
    assert [row.number for row in rows] == [1, 2, 3]
    assert [row.status for row in rows] == ["failed", "progress", "success"]
    assert [row.category for row in rows] == ["policy_violation", "internal_error", "success"]
    assert [row.depth for row in rows] == [2, 3, 5]
    assert [row.code for row in rows] == [1008, 1011, None]
    assert [row.p1_rate for row in rows] == ["1/2 (50%)", "1/2 (50%)", "2/2 (100%)"]
    assert [row.p1_percent for row in rows] == [50, 50, 100]
    assert rows[0].date == "2025-09-07 18:20 UTC"
    assert rows[0].commit == "1111111+"  # the tree was dirty: the mark tells two runs on one commit apart


def test_rows_come_oldest_first_whatever_order_the_records_come_in() -> None:
    assert [row.number for row in history_rows(list(reversed(story())))] == [1, 2, 3]


def test_an_iteration_without_checks_has_no_depth() -> None:
    rows = [{"name": "build", "status": "failed", "error": {"kind": "build", "message": "no Dockerfile"}}]
    (row,) = history_rows([make_record(4, "failed", phase_rows=rows)])
    assert (row.category, row.depth, row.code, row.p1_rate, row.p1_percent) == (None, None, None, "—", None)
    assert trend_line([*history_rows(story()), row]) == "depth ▃▄█·  P1 50% → —"


def test_the_trend_line_draws_depth_and_the_p1_pass_rates() -> None:
    rows = history_rows(story())
    assert trend_line(rows) == "depth ▃▄█  P1 50% → 100%"
    assert trend_line(rows[:1]) == "depth ▃  P1 50%"
    assert trend_line([]) == "no iterations yet"


def test_the_json_envelope_is_versioned_and_serialisable(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for record in story():
        store.save(record, None)
    document = json.loads(json.dumps(history_json(cached_rows(store, 10)[0])))  # what `history --json` prints
    assert document["schema"] == 1
    first = document["iterations"][0]
    assert set(first) == set(HistoryRow.__dataclass_fields__)
    assert first == {
        "number": 1,
        "date": "2025-09-07 18:20 UTC",
        "commit": "1111111+",
        "status": "failed",
        "category": "policy_violation",
        "depth": 2,
        "code": 1008,
        "p1_rate": "1/2 (50%)",
        "p1_percent": 50,
    }
    assert json.loads(json.dumps(document, sort_keys=True)) == document


def test_render_history_prints_a_table_and_the_trend_to_the_given_console() -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=120, color_system=None, emoji=False)
    render_history(history_rows(story()), console)
    text = stream.getvalue()
    assert "policy_violation (1008)" in text
    assert "internal_error (1011)" in text
    assert "2/2 (100%)" in text
    assert text.rstrip().endswith("depth ▃▄█  P1 50% → 100%")


def test_markup_in_a_record_is_printed_as_text() -> None:
    # A commit is an object name (a record holding anything else is skipped); an outcome's category is free text.
    outcome = {"category": "[bold]policy", "depth": 2, "label": "x"}
    record = make_record(1, "failed", checks=[http_check(status=503)], outcome=outcome)
    stream = io.StringIO()
    render_history(history_rows([record]), Console(file=stream, width=120, color_system=None))
    assert "[bold]policy" in stream.getvalue()


def test_the_plain_table_lines_up_its_columns_and_ends_with_the_trend() -> None:
    from loopctl.records.history import history_text

    lines = history_text(history_rows(story())).splitlines()
    assert lines[0] == "loopctl history"
    header, *body, trend = lines[1:]
    assert header.split("  ")[0] == "#" and "blocking outcome" in header
    assert "policy_violation (1008)" in body[0] and "internal_error (1011)" in body[1]
    column = header.index("status")
    assert [line[column:].split()[0] for line in body] == [row.status for row in history_rows(story())]
    assert trend == "depth ▃▄█  P1 50% → 100%"
