"""Stack frames mapped to the repo paths the Changes table uses: by path tail, by the Dockerfile's COPY, or said."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from loopctl.config import Config
from loopctl.evidence import collect as collect_module
from loopctl.evidence.extract import LogLine, extract
from loopctl.evidence.frames import BuildContext, repo_location
from loopctl.evidence.window import LogRead, Window
from loopctl.records.record import CheckRecord, Frame
from loopctl.records.sections import DeploySection
from tests.support.records import closed


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


@pytest.fixture
def init_layout(tmp_path: Path) -> BuildContext:
    """The layout `loopctl init` writes: the repo root is the build context, the iterations folder is ignored in it,
    and a Node service bundles `src/` into `dist/` inside the image (`dist/` is not in the repo)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name in ("tasks.py", "main.py", "index.js", "package.json", "src/room.js", "iterations/0001.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    (tmp_path / ".gitignore").write_text("iterations/\nnode_modules/\ndist/\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM node:20\nWORKDIR /app\nCOPY package.json ./\nCOPY . .\nRUN npm run build\nCOPY main.py /opt/tool/\n"
    )
    config = Config.model_validate({"project": "p", "build": {"context": ".", "image": "p"}, "base_dir": tmp_path})
    found = BuildContext.of(config)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("frame", "location"),
    [
        # A library's file is never the repo's file of the same name at the build context's root.
        (Frame("/usr/lib/python3.11/asyncio/tasks.py", "10", None, "run"), "python3.11/asyncio/tasks.py:10 in run"),
        (Frame("/usr/local/lib/python3.12/site-packages/uvicorn/main.py", "3"), "site-packages/uvicorn/main.py:3"),
        (Frame("/app/node_modules/ws/index.js", "5", "3"), "node_modules/ws/index.js:5:3"),
    ],
)
def test_a_library_frame_is_not_a_root_file_of_the_same_name(
    init_layout: BuildContext, frame: Frame, location: str
) -> None:
    assert repo_location(frame, init_layout) == f"{location} (outside the repo)"


def test_frames_in_the_init_layout_are_the_repos_files(init_layout: BuildContext) -> None:
    assert repo_location(Frame("/app/main.py", "3"), init_layout) == "main.py:3"
    assert repo_location(Frame("/app/src/room.js", "8", "5", "join"), init_layout) == "src/room.js:8:5 in join"
    assert repo_location(Frame("/opt/tool/main.py", "4"), init_layout) == "main.py:4"  # COPY of one file
    assert repo_location(Frame("main.py", "2"), init_layout) == "main.py:2"  # a relative path is its own tail


def test_a_bundle_built_in_the_image_is_not_a_root_file_of_the_same_name(init_layout: BuildContext) -> None:
    bundle = repo_location(Frame("/app/dist/index.js", "1", "2472", "trackActivity"), init_layout)
    assert bundle == (
        "dist/index.js:1:2472 in trackActivity (in a bundle built in the image: its source map names the source line)"
    )


# What uvicorn prints when a WebSocket handler raises, frames of the framework around the service's own.
UVICORN = """\
ERROR:    Exception in ASGI application
Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/uvicorn/protocols/websockets/websockets_impl.py", line 243, in run_asgi
    result = await self.app(self.scope, self.asgi_receive, self.asgi_send)  # type: ignore[func-returns-value]
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/local/lib/python3.12/site-packages/starlette/routing.py", line 74, in app
    await func(session)
  File "/app/app/agent.py", line 12, in respond
    return "user: " + None
           ~~~~~~~~~^~~~~~
  File "/usr/local/lib/python3.12/asyncio/tasks.py", line 10, in run
    raise
TypeError: can only concatenate str (not "NoneType") to str
INFO:     connection closed
"""


def test_a_checks_error_in_a_100k_line_log_names_the_repo_file_and_keeps_no_frame(
    init_layout: BuildContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    (init_layout.folder / "app").mkdir()
    (init_layout.folder / "app" / "agent.py").write_text("x\n")
    noise = [LogLine(f'INFO:     127.0.0.1:{40000 + n % 20000} - "GET /health HTTP/1.1" 200') for n in range(100_000)]
    log = LogRead((*noise, *(LogLine(line) for line in UVICORN.splitlines())), "docker logs of chat")

    class Source:
        def read(self, window: Window, *, enough: Callable[[Sequence[LogLine]], bool]) -> LogRead:
            return log

    monkeypatch.setattr(collect_module, "source_for", lambda config, deploy: Source())
    failing = CheckRecord.model_validate(
        closed(1011, "", ["agent_started"])
        | {"started_at": "2026-12-01T05:20:45Z", "finished_at": "2026-12-01T05:20:46Z"}
    )
    config = Config.model_validate(
        {"project": "p", "build": {"context": ".", "image": "p"}, "base_dir": init_layout.top}
    )
    found = collect_module.collect(config, DeploySection(target="cloudrun"), [failing])
    error = found.checks[0].server_error
    assert error is not None and error.frame is None
    assert (error.type, error.location) == ("TypeError", "app/agent.py:12 in respond")
    assert found.detail["lines"] == 100_000 + len(UVICORN.splitlines())
    unmapped = collect_module.collect(
        config.model_copy(update={"build": None}), DeploySection(target="cloudrun"), [failing]
    )
    assert unmapped.checks[0].server_error == error.model_copy(update={"location": "app/app/agent.py:12"})
