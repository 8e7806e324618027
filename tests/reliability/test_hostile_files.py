"""Files in the iterations folder that are not what they claim: links to devices, FIFOs, huge or deep files, leftovers.

Each is skipped with one line by `history`, `report` and `iterate`, never a hang or a traceback; the leftovers of a
write killed midway are removed under the lock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.reliability.harness import assert_no_traceback, iterate_chat, iterations, run_loopctl, skipped_records

GOOD = (1, 2)


def hostile(folder: Path, outside: Path) -> set[int]:
    """Plant the record files; return their numbers."""
    records = iterations(folder)
    (records / "0003.json").symlink_to("/dev/zero")
    os.mkfifo(records / "0004.json")
    outside.write_text((records / "0001.json").read_text().replace('"number": 1', '"number": 5'))
    (records / "0005.json").symlink_to(outside)  # a readable record, but outside the folder
    with (records / "0006.json").open("wb") as sparse:
        sparse.truncate(2 * 1024**3)
    return {3, 4, 5, 6}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    assert iterate_chat(tmp_path, times=len(GOOD)).returncode == 0
    return tmp_path


def test_links_fifos_and_huge_records_are_skipped_by_history_report_and_iterate(folder: Path, tmp_path: Path) -> None:
    bad = hostile(folder, tmp_path / "elsewhere.json")
    for args in (["history", "--json"], ["report"]):
        done = run_loopctl(folder, *args, timeout=60)
        assert done.returncode == 0, done.stderr
        assert_no_traceback(done.stderr)
        assert skipped_records(done.stderr) == bad, done.stderr
    rows = json.loads(run_loopctl(folder, "history", "--json").stdout)["data"]["iterations"]
    assert [row["number"] for row in rows] == list(GOOD)
    stderr = run_loopctl(folder, "history").stderr
    assert "0003.json: a symbolic link" in stderr and "0004.json: not a regular file (a FIFO)" in stderr
    assert "0006.json: over 16 MiB" in stderr
    for number in bad:
        refused = run_loopctl(folder, "report", str(number), timeout=60)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) <= 2, refused.stderr
        assert_no_traceback(refused.stderr)
    done = iterate_chat(folder, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["number"] == 7 and skipped_records(done.stderr) == bad


def test_a_fifo_or_linked_history_cache_is_not_waited_on_or_written_through(folder: Path, tmp_path: Path) -> None:
    cache = iterations(folder) / ".history-cache.jsonl"
    cache.unlink(missing_ok=True)
    os.mkfifo(cache)
    done = run_loopctl(folder, "history", "--json", timeout=60)
    assert done.returncode == 0 and len(json.loads(done.stdout)["data"]["iterations"]) == 2, done.stderr
    cache.unlink()
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    cache.symlink_to(target)
    done = run_loopctl(folder, "history", "--json", timeout=60)
    assert done.returncode == 0 and len(json.loads(done.stdout)["data"]["iterations"]) == 2, done.stderr
    assert target.read_text() == "keep me\n"


def test_a_deeply_nested_cache_line_is_read_past(folder: Path) -> None:
    first = run_loopctl(folder, "history", "--json")
    cache = iterations(folder) / ".history-cache.jsonl"
    with cache.open("a") as stream:
        stream.write('{"number": 2, "row": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
        stream.write("x" * 3_000_000)  # a line cut short, megabytes long, no newline
    done = run_loopctl(folder, "history", "--json")
    assert done.returncode == 0, done.stderr
    assert_no_traceback(done.stderr)
    assert done.stdout == first.stdout


def test_temporary_files_of_a_killed_write_are_removed_under_the_lock(folder: Path) -> None:
    records = iterations(folder)
    leftovers = [records / ".0003.json.k1ll3d_9.tmp", records / ".0003.md.abcdefgh.tmp", records / ".last.a1b2c3d4.tmp"]
    for path in leftovers:
        path.write_bytes(b"{" * 1000)
    old_cache_temp = records / ".history-cache.jsonl.zzzzzzzz.tmp"
    old_cache_temp.write_text("half")
    os.utime(old_cache_temp, (0, 0))
    fresh_cache_temp = records / ".history-cache.jsonl.yyyyyyyy.tmp"  # a `history` may be writing it right now
    fresh_cache_temp.write_text("half")
    mine = records / "notes.tmp"  # not loopctl's pattern: never touched
    mine.write_text("mine")
    assert iterate_chat(folder).returncode == 0
    assert not [path for path in [*leftovers, old_cache_temp] if path.exists()]
    assert fresh_cache_temp.exists() and mine.exists()
