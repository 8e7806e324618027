"""The history cache: rows come from it only while their record file is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from loopctl.records.history_cache import CACHE_NAME, cached_rows
from loopctl.records.store import Store
from tests.support.records import make_record


def test_rows_follow_edits_and_corruption_and_ignore_a_broken_cache(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in (1, 2, 3):
        store.save(make_record(number, "failed"), None)
    rows, _ = cached_rows(store, 10)
    assert [row.status for row in rows] == ["failed", "failed", "failed"]
    assert (tmp_path / CACHE_NAME).exists()

    store.save(make_record(2, "progress"), None)  # rewritten: its cached row is stale
    (tmp_path / "0003.json").write_text("{")  # broken by hand
    rows, skipped = cached_rows(store, 10)
    assert [(row.number, row.status) for row in rows] == [(1, "failed"), (2, "progress")]
    assert [item.path.name for item in skipped] == ["0003.json"]

    (tmp_path / CACHE_NAME).write_text("not json")
    again, _ = cached_rows(store, 10)
    assert again == rows
    assert json.loads((tmp_path / CACHE_NAME).read_text())["schema"] == 2


def test_last_counts_readable_rows_from_the_newest(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in range(1, 6):
        store.save(make_record(number, "failed"), None)
    rows, _ = cached_rows(store, 2)
    assert [row.number for row in rows] == [4, 5]


def test_the_iterations_folder_ignores_its_lock_and_cache(tmp_path: Path) -> None:
    Store(tmp_path).save(make_record(1, "failed"), None)
    assert (tmp_path / ".gitignore").read_text().split() == [".lock", ".history-cache.json"]
