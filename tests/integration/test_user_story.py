"""The seed's story in a user's own repo, with edits never committed: `loopctl init --target docker` in a fresh git
repo (its iterations folder ignored, as init writes it), then auth broken → the refusal delivered another way →
the handler raises → 3 of 5 events → fixed, on a FastAPI service and on a Node `ws` service, each report read as
the user reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import yaml

from tests.support import npm, realparts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "user_story"
SECRET_ENV = "LOOPCTL_STORY_JWT_SECRET"
API_EVENTS = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
GAME_EVENTS = ["joined", "room_state", "move_accepted", "score_updated", "round_over"]
# One move in a round, answered by every game event: the JavaScript and the TypeScript game servers play alike.
GAME_ROUND: dict[str, Any] = {"send": {"type": "move", "payload": {"x": 1}}, "expect_events": GAME_EVENTS}
# What the FastAPI service needs at run time, imported here so their folders can be copied into its image.
# uvicorn picks its HTTP and WebSocket protocols at start: every one of its modules that imports here is taken.
VENDORED = (
    "import contextlib, importlib, pkgutil, fastapi, starlette.responses, websockets, uvicorn\n"
    "for module in pkgutil.walk_packages(uvicorn.__path__, 'uvicorn.'):\n"
    "    with contextlib.suppress(Exception):\n"
    "        importlib.import_module(module.name)"
)


@dataclass
class Repo:
    """A user's repo: edited in place, iterated with the CLI, its records and reports read back."""

    root: Path
    secret: str

    def edit(self, path: str, old: str, new: str) -> None:
        target = self.root / path
        text = target.read_text()
        assert old in text, f"{old!r} is not in {path}"
        target.write_text(text.replace(old, new))

    def iterate(self) -> tuple[dict[str, Any], str]:
        done = loopctl(self.root, "iterate", "--ci", "--json", env={SECRET_ENV: self.secret})
        assert done.stdout, done.stderr
        record: dict[str, Any] = json.loads(done.stdout)["data"]
        report = (self.root / "iterations" / f"{record['number']:04d}.md").read_text()
        assert self.secret not in done.stdout + done.stderr + report
        return record, report


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def loopctl(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopctl", *args],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def section(report: str, title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", report, re.MULTILINE | re.DOTALL)
    return found[0] if found else ""


def chat(record: dict[str, Any]) -> dict[str, Any]:
    found = [check for check in record["checks"] if check["name"] == "chat-events"]
    assert found, f"no chat-events check ran: {json.dumps(record['phases'])[:3000]}"
    return found[0]


def changed_files(record: dict[str, Any]) -> set[str]:
    return {entry["path"] for entry in (record.get("changes") or {}).get("files") or []}


def make_repo(tmp_path: Path, fixture: str, ignored: list[str], websocket: dict[str, Any]) -> Iterator[Repo]:
    """The fixture as a fresh git repo configured by `loopctl init --target docker`; its engine leftovers removed."""
    root = tmp_path / f"story-{fixture.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURES / fixture, root)
    (root / ".gitignore").write_text("".join(f"{name}\n" for name in ignored))
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "the service")
    made = loopctl(root, "init", "--target", "docker")
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["build"]["args"] = {"BASE_IMAGE": realparts.BASE_IMAGE}
    config["deploy"]["docker"]["env"] = {"JWT_SECRET": {"env": SECRET_ENV}}
    config["probe"]["checks"] = [
        {"name": "health", "priority": 1, "http": {"path": "/health", "expect_status": 200}},
        {"name": "chat-events", "priority": 1, "websocket": {"path": "/ws", "timeout": 10, **websocket}},
    ]
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(root, "add", ".")
    git(root, "commit", "-qm", "loopctl config")
    yield Repo(root, f"story-secret-{uuid.uuid4().hex}")
    engine = realparts.docker_client()
    for container in engine.containers.list(all=True, filters={"label": f"loopctl.project={config['project']}"}):
        with contextlib.suppress(docker.errors.NotFound):  # a retired one may be gone by now
            container.remove(force=True)
    for image in engine.images.list(name=config["build"]["image"]):
        for tag in image.tags:
            if tag.startswith(f"{config['build']['image']}:"):
                engine.images.remove(tag)
    engine.close()


def token(kind: str) -> dict[str, Any]:
    return {"type": kind, "token": {"jwt": {"secret": {"env": SECRET_ENV}, "claims": {"sub": "probe"}, "ttl": 300}}}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Repo]:
    """The FastAPI agent-streaming service, its packages copied from this interpreter into `vendor/` (ignored)."""
    websocket = {
        "auth": token("bearer"),
        "send": {"type": "user_message", "payload": {"content": "hello"}},
        "expect_events": API_EVENTS,
    }
    for repo in make_repo(tmp_path, "fastapi", ["vendor/"], websocket):
        vendor(repo.root / "vendor")
        yield repo


@pytest.fixture
def game(tmp_path: Path) -> Iterator[Repo]:
    """The Node `ws` game server, its token in the query string."""
    yield from node_repo(tmp_path, "node_ws", [], {"auth": token("query"), **GAME_ROUND})


@pytest.fixture
def typed_game(tmp_path: Path) -> Iterator[Repo]:
    """The game server in TypeScript, compiled by tsc (a dev dependency in its lock file) in its image."""
    yield from node_repo(tmp_path, "ts_game", ["dist/"], GAME_ROUND)


def node_repo(tmp_path: Path, fixture: str, ignored: list[str], websocket: dict[str, Any]) -> Iterator[Repo]:
    """A Node service's repo: the host's node binary in `bin/` and `npm ci` of its lock file in `node_modules/`,
    both ignored by git as a user's would be."""
    node = shutil.which("node")
    assert node is not None, "the Node stories need node (installed by `make up`)"
    packages = npm.node_modules(FIXTURES / fixture)
    for repo in make_repo(tmp_path, fixture, ["bin/", "node_modules/", *ignored], websocket):
        (repo.root / "bin").mkdir()
        shutil.copy(node, repo.root / "bin" / "node")
        shutil.copytree(packages, repo.root / "node_modules", symlinks=True)
        yield repo


def vendor(folder: Path) -> None:
    """Copy the packages VENDORED imports, from this interpreter's site-packages, into `folder`."""
    import fastapi

    site_packages = Path(fastapi.__file__).resolve().parents[1]
    listing = (
        f"import sys, json; {VENDORED}; print(json.dumps([getattr(m, '__file__', None) for m in sys.modules.values()]))"
    )
    output = subprocess.run([sys.executable, "-c", listing], capture_output=True, check=True).stdout
    found = json.loads(output.splitlines()[-1])  # some module may print while it is imported
    files = [Path(path).resolve() for path in found if path]
    tops = {path.relative_to(site_packages).parts[0] for path in files if site_packages in path.parents}
    folder.mkdir()
    for top in sorted(tops):
        source = site_packages / top
        if source.is_dir():
            shutil.copytree(source, folder / top, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, folder / top)


def test_the_fastapi_story_with_uncommitted_edits(api: Repo) -> None:
    one, report = api.iterate()
    assert one["status"] == "failed" and chat(one)["outcome"]["code"] == 401
    assert "WARNING app.api.ws_auth: authentication failed: The specified alg value is not allowed" in report
    assert "no server error logged in the window" not in report

    # The same refusal, now sent after accepting the upgrade: the same stage with the same message.
    api.edit("backend/app/api/ws_auth.py", "REJECT_AT_UPGRADE = True", "REJECT_AT_UPGRADE = False")
    two, report = api.iterate()
    assert two["status"] == "no_change" and chat(two)["outcome"]["code"] == 1008
    assert (
        "still refused at authentication, with the same server message: now delivered as close 1008 "
        "(policy_violation) after the upgrade was accepted instead of HTTP 401 at the upgrade — no progress"
    ) in report
    assert changed_files(two) == {"backend/app/api/ws_auth.py"}
    assert "backend/app/api/ws_auth.py" in section(report, "Changes since iteration 1")
    assert "WARNING app.api.ws_auth: authentication failed: The specified alg value is not allowed" in report

    # Auth fixed; the handler now raises after its first event.
    api.edit("backend/app/api/ws_auth.py", 'ALLOWED_ALGORITHMS = ["RS256"]', 'ALLOWED_ALGORITHMS = ["HS256"]')
    api.edit("backend/app/agent.py", 'return "user: " + message["payload"]["content"]', 'return "user: " + None')
    three, report = api.iterate()
    assert three["status"] == "progress" and chat(three)["events_seen"] == ["agent_started"]
    error = chat(three)["server_error"]
    assert error["type"] == "TypeError" and error["location"].startswith("backend/app/agent.py:")
    assert changed_files(three) == {"backend/app/api/ws_auth.py", "backend/app/agent.py"}

    # Three of the five events arrive.
    api.edit("backend/app/agent.py", 'return "user: " + None', 'return "user: " + message["payload"]["content"]')
    api.edit("backend/app/agent.py", "SENT = len(EVENTS)", "SENT = 3")
    four, report = api.iterate()
    assert four["status"] == "progress" and chat(four)["events_seen"] == API_EVENTS[:3]
    assert changed_files(four) == {"backend/app/agent.py"}
    assert "backend/app/agent.py" in section(report, "Changes since iteration 3")

    api.edit("backend/app/agent.py", "SENT = 3", "SENT = len(EVENTS)")
    five, report = api.iterate()
    assert five["status"] == "success" and changed_files(five) == {"backend/app/agent.py"}
    assert all(record["git"]["dirty"] for record in (two, three, four, five))


def test_the_node_ws_story_with_uncommitted_edits(game: Repo) -> None:
    one, report = game.iterate()
    assert one["status"] == "failed" and chat(one)["outcome"]["code"] == 401
    assert "token rejected: JsonWebTokenError: invalid algorithm" in report
    assert "no server error logged in the window" not in report

    # Auth fixed; the handler now throws, and nothing catches it: the process exits.
    game.edit("src/auth.js", 'const ALLOWED_ALGORITHMS = ["RS256"];', 'const ALLOWED_ALGORITHMS = ["HS256"];')
    game.edit("src/room.js", "return String(message.type).length;", "return message.player.name.length;")
    two, report = game.iterate()
    assert two["status"] == "progress" and chat(two)["events_seen"] == ["joined"]
    assert "exited with code 1" in section(report, "Summary")
    # The health check runs beside the chat: when the crash beats it, it is the exit's consequence, never the verdict.
    health = next(check for check in two["checks"] if check["name"] == "health")
    assert two["outcome"] == chat(two)["outcome"] and (health["passed"] or health["after_exit"]), health
    assert changed_files(two) == {"src/auth.js", "src/room.js"}
    assert chat(two)["server_error"]["location"].startswith("src/room.js:")

    game.edit("src/room.js", "return message.player.name.length;", "return String(message.type).length;")
    game.edit("src/room.js", "const SENT = EVENTS.length;", "const SENT = 3;")
    three, report = game.iterate()
    assert three["status"] == "progress" and chat(three)["events_seen"] == GAME_EVENTS[:3]
    assert changed_files(three) == {"src/room.js"}

    game.edit("src/room.js", "const SENT = 3;", "const SENT = EVENTS.length;")
    four, _ = game.iterate()
    assert four["status"] == "success"


def test_a_typescript_build_failure_says_what_failed_and_what_still_serves(typed_game: Repo) -> None:
    one, _ = typed_game.iterate()
    assert one["status"] == "success", json.dumps(one["phases"])[:2000]

    typed_game.edit("src/room.ts", "score.points += 1;", "score.points = message.type;")
    two, report = typed_game.iterate()
    assert two["status"] == "failed" and not two["checks"]
    summary = section(report, "Summary")
    assert "src/room.ts(" in summary and "error TS2322: Type 'string' is not assignable to type 'number'" in summary
    serving = f"iteration 1's deployment `{one['deploy']['revision']}` at {one['deploy']['url']} is what serves"
    assert f"**Still serving**: nothing was deployed, so {serving}" in summary
    assert "## Results compared" not in report and "BEFORE" not in report
    assert "scripts/base-image.sh" not in report and "0002.build.log" in report
    assert changed_files(two) == {"src/room.ts"}
    import urllib.request

    with urllib.request.urlopen(f"{one['deploy']['url']}/health", timeout=5) as still:
        assert still.status == 200

    typed_game.edit("src/room.ts", "score.points = message.type;", "score.points += 1;")
    three, _ = typed_game.iterate()
    assert three["status"] == "success"
