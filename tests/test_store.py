"""The iterations folder: numbering never reuses, one iteration at a time, unreadable records skipped."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from loopctl.errors import UsageError
from loopctl.records.store import Store, StoreError, write_atomic
from tests.support.records import make_record


def test_numbers_are_never_reused_even_when_a_record_was_never_written(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.lock():
        assert store.reserve_number() == 1  # this iteration dies before writing anything
    with store.lock():
        assert store.reserve_number() == 2


def test_a_second_lock_fails_fast_naming_the_holder(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.lock(), pytest.raises(UsageError) as caught, Store(tmp_path).lock():
        pass
    assert f"pid {os.getpid()}" in caught.value.message
    with Store(tmp_path).lock():  # released once the holder is done
        pass


@pytest.mark.parametrize(
    ("plant", "said"),
    [
        (lambda lock, victim: lock.symlink_to(victim), "is a symbolic link"),
        (lambda lock, victim: os.mkfifo(lock), "is not a regular file (a FIFO)"),
    ],
)
def test_a_lock_that_is_not_a_plain_file_is_refused_and_left_alone(
    tmp_path: Path, plant: Callable[[Path, Path], None], said: str
) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    store = Store(tmp_path / "iterations")
    store.root.mkdir()
    plant(store.root / ".lock", victim)
    with pytest.raises(StoreError) as caught, store.lock():
        pass
    assert said in caught.value.message and "rm " in caught.value.hint
    assert victim.read_text() == "keep me\n"


def test_unreadable_and_future_records_are_skipped_with_a_reason(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(make_record(1, "failed"), "# one\n")
    (tmp_path / "0002.json").write_text('{"schema": 1, "number": 2, "stat')
    (tmp_path / "0003.json").write_text(json.dumps({**make_record(3, "failed").to_json_dict(), "schema": 99}))
    (tmp_path / "0004.json").write_text(json.dumps({"schema": 1, "number": 4}))
    records, skipped = store.recent(None)
    assert [record.number for record in records] == [1]
    reasons = {path.name: reason for path, reason in ((item.path, item.reason) for item in skipped)}
    assert reasons["0002.json"] == "not valid JSON (JSONDecodeError)"
    assert "written by a newer loopctl (schema 99" in reasons["0003.json"]
    assert "Field required" in reasons["0004.json"]


def test_atomic_writes_leave_the_old_file_or_the_new_one(tmp_path: Path) -> None:
    target = tmp_path / "0001.json"
    write_atomic(target, "old")

    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [entry.name for entry in tmp_path.iterdir()] == ["0001.json"]


def test_loading_a_missing_iteration_says_which_exist(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(make_record(1, "failed"), None)
    store.save(make_record(2, "failed"), None)
    with pytest.raises(UsageError) as caught:
        store.load(9)
    assert caught.value.hint == "iterations here: 1–2"


def test_recent_reads_only_what_it_returns_newest_last(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for number in range(1, 6):
        store.save(make_record(number, "failed"), None)
    (tmp_path / "0002.json").write_text("garbage")  # older than what is asked for: never read
    records, skipped = store.recent(2)
    assert [record.number for record in records] == [4, 5] and skipped == []
    earlier, _ = store.recent(2, before=4)
    assert [record.number for record in earlier] == [1, 3]


def test_written_files_follow_the_umask_not_owner_only(tmp_path: Path) -> None:
    import os

    previous = os.umask(0o022)
    try:
        write_atomic(tmp_path / "0001.md", "report")
    finally:
        os.umask(previous)
    assert (tmp_path / "0001.md").stat().st_mode & 0o777 == 0o644
