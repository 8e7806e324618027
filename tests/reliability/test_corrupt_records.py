"""Records that were truncated, edited or written by a newer loopctl: skipped with a warning, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopctl.records.record import RECORD_SCHEMA
from tests.integration.agent_service import running_service
from tests.reliability.harness import (
    EXIT_USAGE,
    JWT_AUTH,
    JWT_SECRET,
    assert_no_traceback,
    chat_check,
    iterate,
    iterations,
    run_loopctl,
    url_config,
    write_config,
)

GOOD = (1, 2)


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
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    with running_service(secret=JWT_SECRET) as service:
        write_config(tmp_path, url_config(service.http_url, chat_check(auth=JWT_AUTH)))
        for _ in GOOD:
            assert iterate(tmp_path, "--ci").returncode == 0
    good = (iterations(tmp_path) / "0001.json").read_text()
    for number, content in damaged(good).items():
        (iterations(tmp_path) / f"{number:04d}.json").write_bytes(content)
    return tmp_path


def warned(stderr: str) -> set[int]:
    return {
        int(line.split("iterations/")[1][:4]) for line in stderr.splitlines() if line.startswith("warning: skipped ")
    }


def test_history_lists_the_good_records_and_warns_about_each_bad_one(folder: Path) -> None:
    for args in (["history", "--json"], ["history"]):
        done = run_loopctl(folder, *args)
        assert done.returncode == 0, done.stderr
        assert_no_traceback(done.stderr)
        assert warned(done.stderr) == set(range(3, 10)), done.stderr
    rows = json.loads(run_loopctl(folder, "history", "--json").stdout)["iterations"]
    assert [row["number"] for row in rows] == list(GOOD)
    assert f"newer loopctl (schema {RECORD_SCHEMA + 1}" in run_loopctl(folder, "history").stderr


def test_report_renders_the_latest_good_record_and_refuses_a_bad_one_by_number(folder: Path) -> None:
    latest = run_loopctl(folder, "report")
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout == (iterations(folder) / "0002.md").read_text()
    assert warned(latest.stderr) == set(range(3, 10))
    for number in range(3, 10):
        refused = run_loopctl(folder, "report", str(number), "--format", "json")
        assert refused.returncode == EXIT_USAGE, (number, refused.stderr)
        assert f"{number:04d}.json" in refused.stderr and json.loads(refused.stdout)["error"]["kind"] == "usage"
        assert_no_traceback(refused.stderr)


def test_the_next_iteration_compares_with_the_last_good_record_and_numbers_past_the_bad_ones(folder: Path) -> None:
    with running_service(secret=JWT_SECRET) as service:
        write_config(folder, url_config(service.http_url, chat_check(auth=JWT_AUTH)))
        done = iterate(folder, "--ci", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert (record["number"], record["previous"], record["status"]) == (10, 2, "success")
    assert warned(done.stderr) == set(range(3, 10))
    assert_no_traceback(done.stderr)
