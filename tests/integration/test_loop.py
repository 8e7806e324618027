"""`loopctl loop` with a url target: stops on success, re-runs on its timer, ends cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

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


def test_a_git_ignored_env_in_the_context_starts_the_next_iteration_and_scratch_beside_it_does_not(
    tmp_path: Path,
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("iterations\n.env\nscratch.txt\n")
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    with running_service(fault="auth", secret=SECRET) as service:
        build = "build: {context: service, image: 127.0.0.1:5000/agent-service}\n"
        (tmp_path / "config.yaml").write_text(CONFIG.format(port=service.port) + build)
        process = loop(tmp_path, "--skip", "build,push", "--max", "2")
        try:
            assert process.stderr is not None
            waiting = _read_until(process.stderr, "waiting for a change")
            (tmp_path / "scratch.txt").write_text("notes, outside the build context\n")
            (tmp_path / "service" / ".env").write_text("FEATURE=on\n")
            rest = process.stderr.read()
            assert process.wait(timeout=120) == 1, waiting + rest
        finally:
            process.kill()
    assert "loop: .env changed; iterating" in rest
    assert "scratch.txt" not in rest
    assert statuses(tmp_path) == ["failed", "no_change"]


def _read_until(stream: IO[str], text: str) -> str:
    seen = ""
    while text not in seen:
        line = stream.readline()
        if not line:
            raise AssertionError(f"the loop ended before saying {text!r}:\n{seen}")
        seen += line
    return seen


def test_ctrl_c_while_watching_the_files_ends_with_130(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with running_service(fault="auth", secret=SECRET) as service:
        build = "build: {context: ., image: 127.0.0.1:5000/agent-service}\n"
        (tmp_path / "config.yaml").write_text(CONFIG.format(port=service.port) + build)
        process = loop(tmp_path, "--skip", "build,push")
        try:
            assert process.stderr is not None
            _read_until(process.stderr, "waiting for a change")
            process.send_signal(signal.SIGINT)
            rest = process.stderr.read()
            assert process.wait(timeout=30) == 130
        finally:
            process.kill()
    assert "loop: stopped by Ctrl-C while waiting" in rest and "Traceback" not in rest
    assert statuses(tmp_path) == ["failed"]


def test_an_edit_to_dockerignore_changes_what_the_next_wait_watches(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("iterations\ndocs\n")
    (tmp_path / "docs").mkdir()
    with running_service(fault="auth", secret=SECRET) as service:
        build = "build: {context: ., image: 127.0.0.1:5000/agent-service}\n"
        (tmp_path / "config.yaml").write_text(CONFIG.format(port=service.port) + build)
        process = loop(tmp_path, "--skip", "build,push", "--max", "3")
        try:
            assert process.stderr is not None
            said = _read_until(process.stderr, "waiting for a change")
            (tmp_path / ".dockerignore").write_text("iterations\n")  # docs/ is sent to the engine from now on
            said += _read_until(process.stderr, "waiting for a change")
            (tmp_path / "docs" / "notes.md").write_text("now part of the image\n")
            said += process.stderr.read()
            assert process.wait(timeout=120) == 1, said
        finally:
            process.kill()
    assert "loop: .dockerignore changed; iterating" in said
    assert "loop: docs/notes.md changed; iterating" in said
    assert statuses(tmp_path) == ["failed", "no_change", "no_change"]
