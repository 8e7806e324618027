"""Records that were truncated, edited or written by a newer loopctl: skipped with a warning, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopctl.records.record import RECORD_SCHEMA
from tests.reliability.harness import (
    EXIT_USAGE,
    assert_no_traceback,
    iterate_chat,
    iterations,
    run_loopctl,
    skipped_records,
)

GOOD = (1, 2)
BAD = set(range(3, 14))


def damaged(good: str) -> dict[int, bytes]:
    """What can happen to a record file, keyed by the number it pretends to be."""
    future = json.loads(good) | {"schema": RECORD_SCHEMA + 1, "number": 4, "new_field": {"x": 1}}
    return {
        3: good.encode()[: len(good) // 2],  # truncated mid-write by something other than loopctl
        4: json.dumps(future).encode(),  # written by a newer loopctl
        5: b"[1, 2, 3]\n",
        6: good.replace('"status"', '"st\xe4tus"').encode("latin-1", "replace"),  # not UTF-8
        7: b'{"schema": 1, "number": 7}\n',  # fields missing
        8: b"",
        9: json.dumps(json.loads(good) | {"status": "exploded", "number": 9}).encode(),
        10: b'{"schema": 1, "number": 10, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # nested past any parser
        11: json.dumps(with_check(good, 11, load={"outcomes": []})).encode(),  # a renderer would call .items()
        12: json.dumps(with_check(good, 12, events_seen={"a": 1}, latency_ms=[1])).encode(),
        # A commit that is an option, not an object name: comparing with it would hand `--output=…` to git.
        13: json.dumps(
            json.loads(good) | {"number": 13, "git": {"commit": "--output=/tmp/owned", "dirty": False}}
        ).encode(),
    }


def with_check(good: str, number: int, **fields: object) -> dict[str, object]:
    """The good record, renumbered, with fields of its first check replaced by values of the wrong type."""
    record = json.loads(good) | {"number": number}
    record["checks"][0] |= fields
    return record


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    assert iterate_chat(tmp_path, times=len(GOOD)).returncode == 0
    good = (iterations(tmp_path) / "0001.json").read_text()
    for number, content in damaged(good).items():
        (iterations(tmp_path) / f"{number:04d}.json").write_bytes(content)
    return tmp_path


def test_history_lists_the_good_records_and_warns_about_each_bad_one(folder: Path) -> None:
    for args in (["history", "--json"], ["history"]):
        done = run_loopctl(folder, *args)
        assert done.returncode == 0, done.stderr
        assert_no_traceback(done.stderr)
        assert skipped_records(done.stderr) == BAD, done.stderr
    rows = json.loads(run_loopctl(folder, "history", "--json").stdout)["data"]["iterations"]
    assert [row["number"] for row in rows] == list(GOOD)
    assert f"newer loopctl (schema {RECORD_SCHEMA + 1}" in run_loopctl(folder, "history").stderr


def test_report_renders_the_latest_good_record_and_refuses_a_bad_one_by_number(folder: Path) -> None:
    latest = run_loopctl(folder, "report")
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout == (iterations(folder) / "0002.md").read_text()
    assert skipped_records(latest.stderr) == BAD
    for number in sorted(BAD):
        refused = run_loopctl(folder, "report", str(number), "--format", "json")
        assert refused.returncode == EXIT_USAGE, (number, refused.stderr)
        assert f"{number:04d}.json" in refused.stderr and json.loads(refused.stdout)["errors"][0]["kind"] == "usage"
        assert_no_traceback(refused.stderr)


def test_the_next_iteration_compares_with_the_last_good_record_and_numbers_past_the_bad_ones(folder: Path) -> None:
    done = iterate_chat(folder, "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)["data"]
    assert (record["number"], record["previous"], record["status"]) == (max(BAD) + 1, 2, "success")
    assert skipped_records(done.stderr) == BAD
    assert_no_traceback(done.stderr)


def test_a_tampered_history_cache_is_read_past_not_trusted(folder: Path) -> None:
    first = run_loopctl(folder, "history", "--json")
    cache_path = iterations(folder) / ".history-cache.jsonl"
    lines = {entry["number"]: entry for entry in map(json.loads, cache_path.read_text().splitlines())}
    lines[1]["row"] |= {"depth": "deep", "status": "\x1b[2Jsuccess"}  # same key: looks up to date
    lines[2] = ["not", "an", "entry"]
    lines[3] = {**lines[3], "row": {"number": 3}}
    cache_path.write_text("".join(json.dumps(entry) + "\n" for entry in lines.values()))
    for args in (["history", "--json"], ["history"]):
        done = run_loopctl(folder, *args)
        assert done.returncode == 0, done.stderr
        assert_no_traceback(done.stderr)
        assert skipped_records(done.stderr) == BAD and "\x1b" not in done.stdout + done.stderr
    assert run_loopctl(folder, "history", "--json").stdout == first.stdout
