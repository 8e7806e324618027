"""A suite that times out or is interrupted ends with everything it started: no process outlives the iteration."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.harness import (
    EXIT_CHECKS,
    EXIT_INTERRUPTED,
    LOOPCTL,
    assert_complete,
    assert_no_traceback,
    iterate,
    iterations,
    loopctl_env,
    start_iterate,
    write_config,
)


def suite_config(folder: Path, marker: str, *, timeout: float) -> None:
    # A shell that starts a child in the background and waits on another: killing the shell alone orphans both.
    command = f"echo started; sleep {marker} & sleep {marker}; wait"
    write_config(
        folder,
        f"project: groups\nsuites:\n  - name: stuck\n    command: '{command}'\n    timeout: {timeout:g}\n",
    )


def survivors(marker: str) -> list[str]:
    done = subprocess.run(["pgrep", "-af", f"sleep {marker}"], capture_output=True, text=True, check=False)
    return [line for line in done.stdout.splitlines() if "pgrep" not in line]


def wait_until_gone(marker: str, *, within: float = 5.0) -> list[str]:
    deadline = time.monotonic() + within
    while (left := survivors(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def marker() -> str:
    return f"{random.randint(3000, 3999)}.{random.randint(100, 999)}"  # a sleep no other process runs


def test_a_suite_past_its_timeout_is_killed_with_its_whole_process_group(tmp_path: Path, marker: str) -> None:
    suite_config(tmp_path, marker, timeout=1)
    done = iterate(tmp_path, "--ci", timeout=60)
    assert done.returncode == EXIT_CHECKS, done.stderr
    record = assert_complete(tmp_path, 1, status="failed", phases=[("suites", "failed")])
    assert record["suites"][0]["error"]["kind"] == "timeout"
    assert "started" in (iterations(tmp_path) / "0001.suite-stuck.log").read_text()
    assert wait_until_gone(marker) == []
    assert_no_traceback(done.stderr)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_suite_leaves_no_process_behind(tmp_path: Path, marker: str, signum: signal.Signals) -> None:
    suite_config(tmp_path, marker, timeout=600)
    running = start_iterate(tmp_path, "--ci")
    running.wait_for("suites  stuck: running")
    deadline = time.monotonic() + 10
    while not survivors(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors(marker), "the suite never started its children"
    running.signal(signum)
    code, _, stderr = running.finish(timeout=20)
    assert code == EXIT_INTERRUPTED, stderr
    assert_complete(tmp_path, 1, status="aborted", phases=[("suites", "aborted")])
    assert wait_until_gone(marker) == []
    assert_no_traceback(stderr)


PASSING = '<testsuite tests="1"><testcase classname="e2e" name="one"/></testsuite>'


def one_suite(folder: Path, command: str, *, timeout: float = 60) -> None:
    (folder / "pass.xml").parent.mkdir(parents=True, exist_ok=True)
    (folder / "pass.xml").write_text(PASSING)
    write_config(
        folder, f"project: groups\nsuites:\n  - name: e2e\n    command: '{command}'\n    timeout: {timeout:g}\n"
    )


def test_a_daemon_a_suite_leaves_behind_with_setsid_is_ended_and_named(tmp_path: Path, marker: str) -> None:
    """`setsid` takes the child out of the suite's process group: a group kill alone would never reach it."""
    one_suite(tmp_path, f"setsid sleep {marker} >/dev/null 2>&1 & cp pass.xml {{junit}}")
    done = iterate(tmp_path, "--ci", timeout=60)
    assert done.returncode == 0, done.stderr
    record = assert_complete(tmp_path, 1, status="success", phases=[("suites", "ok")])
    (left,) = record["suites"][0]["left_running"]
    assert left.endswith(f"sleep {marker}"), left
    assert "e2e: left 1 process(es) running after it ended" in done.stderr and "loopctl ended them" in done.stderr
    assert "left processes running, ended by loopctl: e2e (1)" in (iterations(tmp_path) / "0001.md").read_text()
    assert wait_until_gone(marker) == []


def test_a_setsid_child_of_a_timed_out_suite_is_ended_too(tmp_path: Path, marker: str) -> None:
    one_suite(tmp_path, f"setsid sleep {marker} & sleep {marker}", timeout=1)
    done = iterate(tmp_path, "--ci", timeout=60)
    assert done.returncode == EXIT_CHECKS, done.stderr
    record = assert_complete(tmp_path, 1, status="failed", phases=[("suites", "failed")])
    suite = record["suites"][0]
    assert suite["error"]["kind"] == "timeout"
    assert [left.split(" ", 1)[1] for left in suite["left_running"]] == [f"sleep {marker}"]
    assert wait_until_gone(marker) == []


PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_a_suite_writing_200_mb_keeps_a_bounded_head_and_tail(tmp_path: Path) -> None:
    one_suite(tmp_path, "echo FIRST-LINE; yes 0123456789abcdef | head -c 200000000; echo; echo LAST-LINE; exit 4")
    command = [*LOOPCTL, "iterate", "--config", str(tmp_path / "config.yaml"), "--ci"]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=loopctl_env(),
        check=True,
    )
    code, peak_kb = (int(value) for value in done.stdout.split())
    assert code == EXIT_CHECKS
    record = assert_complete(tmp_path, 1, status="failed", phases=[("suites", "failed")])
    assert "exited with code 4" in record["suites"][0]["error"]["message"]
    log = (iterations(tmp_path) / "0001.suite-e2e.log").read_text()
    assert log.startswith("FIRST-LINE\n") and log.endswith("LAST-LINE\n")
    assert len(log) <= 1024 * 1024 + 200
    assert "MB of output dropped here, of 200.0 MB in all: the first 524.3 KB and the last" in log
    # What it read stayed in memory about once: the old whole-file read held it several times over.
    assert peak_kb < 150_000, peak_kb
