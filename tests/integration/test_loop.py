"""`loopctl loop` with a url target: stops on success, re-runs on its timer, ends cleanly on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
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


def read_until(stream: IO[str], text: str) -> str:
    """Lines from `stream` up to the one holding `text`; the loop ending first fails the test with what it said."""
    seen = ""
    while text not in seen:
        line = stream.readline()
        if not line:
            raise AssertionError(f"the loop ended before saying {text!r}:\n{seen}")
        seen += line
    return seen


@contextlib.contextmanager
def waiting_loop(folder: Path, context: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], IO[str], str]]:
    """`loop` on a build context against a failing service, once it waits for a change: the process, its stderr
    and what it said so far."""
    with running_service(fault="auth", secret=SECRET) as service:
        build = f"build: {{context: {context}, image: 127.0.0.1:5000/agent-service}}\n"
        (folder / "config.yaml").write_text(CONFIG.format(port=service.port) + build)
        process = loop(folder, "--skip", "build,push", *args)
        try:
            assert process.stderr is not None
            yield process, process.stderr, read_until(process.stderr, "waiting for a change")
        finally:
            process.kill()


def test_a_git_ignored_env_in_the_context_starts_the_next_iteration_and_scratch_beside_it_does_not(
    tmp_path: Path,
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("iterations\n.env\nscratch.txt\n")
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    with waiting_loop(tmp_path, "service", "--max", "2") as (process, stderr, waiting):
        (tmp_path / "scratch.txt").write_text("notes, outside the build context\n")
        (tmp_path / "service" / ".env").write_text("FEATURE=on\n")
        rest = stderr.read()
        assert process.wait(timeout=120) == 1, waiting + rest
    assert "loop: .env changed; iterating" in rest
    assert "scratch.txt" not in rest
    assert statuses(tmp_path) == ["failed", "no_change"]


def test_ctrl_c_while_watching_the_files_ends_with_130(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with waiting_loop(tmp_path, ".") as (process, stderr, _):
        process.send_signal(signal.SIGINT)
        rest = stderr.read()
        assert process.wait(timeout=30) == 130
    assert "loop: stopped by Ctrl-C while waiting" in rest and "Traceback" not in rest
    assert statuses(tmp_path) == ["failed"]


def test_an_edit_to_dockerignore_changes_what_the_next_wait_watches(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("iterations\ndocs\n")
    (tmp_path / "docs").mkdir()
    with waiting_loop(tmp_path, ".", "--max", "3") as (process, stderr, said):
        (tmp_path / ".dockerignore").write_text("iterations\n")  # docs/ is sent to the engine from now on
        said += read_until(stderr, "waiting for a change")
        (tmp_path / "docs" / "notes.md").write_text("now part of the image\n")
        said += stderr.read()
        assert process.wait(timeout=120) == 1, said
    assert "loop: .dockerignore changed; iterating" in said
    assert "loop: docs/notes.md changed; iterating" in said
    assert statuses(tmp_path) == ["failed", "no_change", "no_change"]
