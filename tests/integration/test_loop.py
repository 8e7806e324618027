"""`loopctl loop` with a url target: stops on success, re-runs on its timer, ends cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.agent_service import running_service
from tests.integration.test_iterate import CONFIG, SECRET


def loop(folder: Path, *args: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "DEMO_JWT_SECRET": SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "loopctl", "loop", "--ci", "--config", str(folder / "config.yaml"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
        cwd=folder,
    )


def statuses(folder: Path) -> list[str]:
    return [json.loads(path.read_text())["status"] for path in sorted((folder / "iterations").glob("*.json"))]


def test_loop_stops_at_the_first_success(tmp_path: Path) -> None:
    with running_service(secret=SECRET) as service:
        (tmp_path / "config.yaml").write_text(CONFIG.format(port=service.port))
        process = loop(tmp_path, "--every", "0.2", "--max", "5")
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert statuses(tmp_path) == ["success"]


def test_a_soak_loop_reruns_on_its_timer_until_max(tmp_path: Path) -> None:
    with running_service(fault="auth", secret=SECRET) as service:
        (tmp_path / "config.yaml").write_text(CONFIG.format(port=service.port))
        process = loop(tmp_path, "--every", "0.2", "--max", "3")
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert statuses(tmp_path) == ["failed", "no_change", "no_change"]
    assert stderr.count("waiting for 0.2s") == 2


@pytest.mark.parametrize(("sent", "named"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_a_signal_while_waiting_ends_with_one_line_130_and_keeps_every_record(
    tmp_path: Path, sent: signal.Signals, named: str
) -> None:
    with running_service(fault="auth", secret=SECRET) as service:
        (tmp_path / "config.yaml").write_text(CONFIG.format(port=service.port))
        process = loop(tmp_path, "--every", "60")
        assert process.stderr is not None
        for line in process.stderr:  # the wait has begun once loop says what it waits for
            if "waiting for 60s" in line:
                break
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.strip().splitlines() == [f"loop: stopped by {named} while waiting; every record is kept"]
    assert statuses(tmp_path) == ["failed"]
