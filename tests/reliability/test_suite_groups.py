"""A suite that times out or is interrupted ends with everything it started: no process outlives the iteration."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.harness import (
    EXIT_CHECKS,
    EXIT_INTERRUPTED,
    assert_complete,
    assert_no_traceback,
    iterate,
    iterations,
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
