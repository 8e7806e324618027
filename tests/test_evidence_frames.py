"""Stack frames mapped to the repo paths the Changes table uses: by path tail, by the Dockerfile's COPY, or said."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loopctl.config import Config
from loopctl.evidence.extract import LogLine, extract
from loopctl.evidence.frames import BuildContext, repo_location
from loopctl.records.record import Frame


@pytest.fixture
def context(tmp_path: Path) -> BuildContext:
    """A repo whose service is built from `backend/`, copied to /srv, with `src/` copied alone to /opt/svc."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    backend = tmp_path / "backend"
    for name in ("app/api/ws_auth.py", "src/main.py", "dist/index.js", "app/__init__.py"):
        (backend / name).parent.mkdir(parents=True, exist_ok=True)
        (backend / name).write_text("# code\n")
    (backend / "Dockerfile").write_text("FROM python:3.12\nWORKDIR /srv\nCOPY . .\nCOPY --chown=app src/ /opt/svc/\n")
    config = Config.model_validate(
        {"project": "p", "build": {"context": "backend", "image": "p"}, "base_dir": tmp_path}
    )
    found = BuildContext.of(config)
    assert found is not None
    return found


def test_a_python_frame_is_the_file_the_changes_table_names(context: BuildContext) -> None:
    error = extract(
        [
            LogLine("Traceback (most recent call last):"),
            LogLine('  File "/srv/app/api/ws_auth.py", line 26, in authenticate'),
            LogLine("jwt.exceptions.InvalidAlgorithmError: The specified alg value is not allowed"),
        ]
    )
    assert error is not None and error.frame is not None
    assert error.location == "app/api/ws_auth.py:26"  # what the log alone says
    assert repo_location(error.frame, context) == "backend/app/api/ws_auth.py:26 in authenticate"


def test_a_file_copied_under_another_name_is_found_through_the_dockerfile(context: BuildContext) -> None:
    assert repo_location(Frame("/opt/svc/main.py", "3", None, "<module>"), context) == "backend/src/main.py:3"


def test_a_node_frame_keeps_its_column_and_function_and_a_bundle_says_so(context: BuildContext) -> None:
    error = extract(
        [
            LogLine("TypeError: Cannot read properties of undefined (reading 'id')"),
            LogLine("    at trackActivity (/srv/dist/index.js:1:2472)"),
            LogLine("    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"),
        ]
    )
    assert error is not None and error.frame is not None
    assert repo_location(error.frame, context) == (
        "backend/dist/index.js:1:2472 in trackActivity (in a bundle: its source map names the source line)"
    )


def test_a_frame_outside_the_repo_says_so(context: BuildContext) -> None:
    frame = Frame("/usr/lib/python3.11/asyncio/tasks.py", "10", None, "run")
    assert repo_location(frame, context) == "python3.11/asyncio/tasks.py:10 in run (outside the repo)"
    escaping = Frame("/srv/../../etc/passwd", "1")
    assert repo_location(escaping, context).endswith("(outside the repo)")
