"""The history cache: rows come from it only while their record file is unchanged, read from its tail."""

from __future__ import annotations

import json
from pathlib import Path

from loopctl.records.history import HistoryRow, history_rows
from loopctl.records.history_cache import CACHE_NAME, cached_rows
from loopctl.records.store import Store
from tests.support.records import make_record


def test_rows_follow_edits_and_corruption_and_ignore_a_broken_cache(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in (1, 2, 3):
        store.save(make_record(number, "failed"), None)
    rows, _ = cached_rows(store, 10)
    assert [row["status"] for row in rows] == ["failed", "failed", "failed"]
    assert (tmp_path / CACHE_NAME).exists()

    store.save(make_record(2, "progress"), None)  # rewritten: its cached row is stale
    (tmp_path / "0003.json").write_text("{")  # broken by hand
    rows, skipped = cached_rows(store, 10)
    assert [(row["number"], row["status"]) for row in rows] == [(1, "failed"), (2, "progress")]
    assert [item.path.name for item in skipped] == ["0003.json"]

    (tmp_path / CACHE_NAME).write_text('not json\n{"number": 1, "key": 5')  # garbage, and a line cut short
    again, _ = cached_rows(store, 10)
    assert again == rows
    lines = (tmp_path / CACHE_NAME).read_text().splitlines()
    assert [json.loads(line)["number"] for line in lines[2:]] == [1, 2, 3]


def test_cached_rows_are_the_records_rows_made_now_and_read_back(tmp_path: Path) -> None:
    store = Store(tmp_path)
    records = [make_record(number, "failed" if number % 2 else "progress") for number in range(1, 6)]
    for record in records:
        store.save(record, None)
    made, read_back = cached_rows(store, 10)[0], cached_rows(store, 10)[0]
    assert made == read_back
    assert [HistoryRow(**row) for row in read_back] == history_rows(records)  # as `history` renders them


def test_last_counts_readable_rows_from_the_newest(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in range(1, 40):
        store.save(make_record(number, "failed"), None)
    for number in range(20, 40):  # more broken files than the window spares
        (tmp_path / f"{number:04d}.json").write_text("{")
    rows, skipped = cached_rows(store, 2)
    assert [row["number"] for row in rows] == [18, 19]
    assert len(skipped) == 20


def test_an_old_whole_folder_cache_is_replaced(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(make_record(1, "failed"), None)
    (tmp_path / ".history-cache.json").write_text(json.dumps({"schema": 1, "records": {}}))
    rows, _ = cached_rows(store, 5)
    assert [row["number"] for row in rows] == [1]
    assert not (tmp_path / ".history-cache.json").exists()


def test_the_iterations_folder_ignores_its_lock_and_cache(tmp_path: Path) -> None:
    Store(tmp_path).save(make_record(1, "failed"), None)
    assert (tmp_path / ".gitignore").read_text().split() == [".lock", CACHE_NAME]


def test_a_line_of_another_row_schema_is_made_again(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(make_record(1, "failed"), None)
    (row,) = cached_rows(store, 5)[0]
    line = json.loads((tmp_path / CACHE_NAME).read_text())
    stale = {**line, "schema": 0, "row": {**row, "status": "from an older loopctl"}}
    (tmp_path / CACHE_NAME).write_text(json.dumps(stale) + "\n")
    assert cached_rows(store, 5)[0] == [row]


def test_the_first_history_after_a_new_record_appends_its_row_and_rewrites_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in range(1, 301):
        store.save(make_record(number, "failed"), None)
    cached_rows(store, 300)  # every row cached: far more lines than a `--last 20` may read
    cache = tmp_path / CACHE_NAME
    before, inode = cache.read_bytes(), cache.stat().st_ino
    store.save(make_record(301, "progress"), None)
    rows, _ = cached_rows(store, 20)
    assert [row["number"] for row in rows] == list(range(282, 302))
    assert rows[-1]["status"] == "progress"
    after = cache.read_bytes()
    assert cache.stat().st_ino == inode and after.startswith(before)  # appended to, not rewritten
    assert [json.loads(line)["number"] for line in after[len(before) :].splitlines()] == [301]


def test_rows_appended_out_of_order_are_sorted_once_then_found_at_the_tail(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in range(1, 301):
        store.save(make_record(number, "failed"), None)
    cached_rows(store, 20)
    cached_rows(store, 300)  # the older rows land after the newest ones
    cache = tmp_path / CACHE_NAME
    rows, _ = cached_rows(store, 20)  # has to dig past them: the file is put back in number order
    assert [row["number"] for row in rows] == list(range(281, 301))
    numbers = [json.loads(line)["number"] for line in cache.read_text().splitlines()]
    assert numbers[:300] == list(range(1, 301))
    settled = cache.read_bytes()
    cached_rows(store, 20)
    assert cache.read_bytes() == settled  # everything found near the end: nothing appended, nothing rewritten


def test_a_cache_linked_to_nowhere_is_not_created_through_its_link(tmp_path: Path) -> None:
    store = Store(tmp_path / "iterations")
    store.save(make_record(1, "failed"), None)
    target = tmp_path / "elsewhere.jsonl"
    (store.root / CACHE_NAME).symlink_to(target)
    assert [row["number"] for row in cached_rows(store, 5)[0]] == [1]
    assert not target.exists() and (store.root / CACHE_NAME).is_symlink()


def test_a_current_line_whose_row_has_a_field_of_the_wrong_type_is_made_again(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(make_record(1, "failed"), None)
    (row,) = cached_rows(store, 5)[0]
    line = json.loads((tmp_path / CACHE_NAME).read_text())
    for tampered in ({"depth": "deep"}, {"depth": True}, {"extra": 1}):
        (tmp_path / CACHE_NAME).write_text(json.dumps({**line, "row": {**row, **tampered}}) + "\n")  # same key
        assert cached_rows(store, 5)[0] == [row], tampered
