"""A user's own repo, as a new user meets loopctl: `init --target docker`, iterate, iterate unchanged, then `loop`
picks up an edit and stops at success. The build context is the repo's root, so the iterations folder sits inside
it: records must neither rebuild the image nor start the next iteration.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.integration.test_loop import read_until
from tests.support import realparts

# The service a user writes (the base image has python3 and websockets 10.4, whose API this uses).
SERVICE = """\
import asyncio
import http
import json
import os

import websockets

EVENTS = ["agent_started", "agent_completed"]
FIXED = False


async def health(path, headers):
    if path == "/health":
        return http.HTTPStatus.OK, [], b"ok\\n"
    return None


async def chat(websocket, path=None):
    await websocket.recv()
    await websocket.send(json.dumps({"type": EVENTS[0]}))
    if not FIXED:
        raise RuntimeError("bug after the first event")
    await websocket.send(json.dumps({"type": EVENTS[1]}))


async def main():
    async with websockets.serve(chat, "0.0.0.0", int(os.environ.get("PORT", "8000")), process_request=health):
        await asyncio.Future()


asyncio.run(main())
"""

DOCKERFILE = f"""\
FROM {realparts.BASE_IMAGE}
WORKDIR /app
COPY . /app
EXPOSE 8000
CMD ["python3", "service.py"]
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def loopctl(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopctl", *args], capture_output=True, text=True, cwd=repo, timeout=300, check=False
    )


def records(repo: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted((repo / "iterations").glob("[0-9]*.json"))]


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A fresh git repo named uniquely (init names the image and the container after it); removed at the end."""
    folder = tmp_path / f"chat-{uuid.uuid4().hex[:10]}"
    folder.mkdir()
    (folder / "service.py").write_text(SERVICE)
    (folder / "Dockerfile").write_text(DOCKERFILE)
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-qm", "the service")
    yield folder
    engine = realparts.docker_client()
    for container in engine.containers.list(all=True, filters={"name": folder.name}):
        with contextlib.suppress(docker.errors.NotFound):  # a retired one may be gone by now
            container.remove(force=True)
    for image in engine.images.list(name=folder.name):
        # By tag, never by id: an identical build of someone else's shares the id, and its tags must stay.
        for tag in image.tags:
            if tag.startswith(f"{folder.name}:"):
                engine.images.remove(tag)
    engine.close()


def test_init_iterate_edit_loop_in_a_users_repo(repo: Path) -> None:
    made = loopctl(repo, "init", "--target", "docker")
    assert made.returncode == 0, made.stderr
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "loopctl config")

    first = loopctl(repo, "iterate", "--ci")
    assert first.returncode == 1, first.stderr
    unchanged = loopctl(repo, "iterate", "--ci")
    assert unchanged.returncode == 1, unchanged.stderr
    one, two = records(repo)
    assert one["checks"][1]["outcome"]["code"] == 1011  # websockets closes with 1011 when the handler raises
    assert one["checks"][1]["events_seen"] == ["agent_started"]
    # The exception the container logged while the probe ran is quoted as evidence.
    assert (
        "The server's log at that time: RuntimeError: bug after the first event" in one["checks"][1]["outcome"]["hint"]
    )
    assert one["build"]["cached"] == "no"
    # Iteration 1's records landed inside the build context, yet the inputs are the same: no rebuild.
    assert two["build"]["input_digest"] == one["build"]["input_digest"]
    assert two["build"]["cached"] == "local"
    assert two["deploy"]["reused"] is True  # nothing pushed: the input tag keeps the container
    assert two["status"] == "no_change"
    assert not two["git"]["dirty"]  # the records are git-ignored: the tree stays clean

    loop = subprocess.Popen(
        [sys.executable, "-m", "loopctl", "loop", "--ci", "--interval", "0.2", "--debounce", "0.2", "--max", "4"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=repo,
    )
    try:
        assert loop.stderr is not None
        waiting = read_until(loop.stderr, "waiting for a change")
        # Many polls with nothing but the loop's own writes: none of them may start an iteration.
        time.sleep(2)
        assert len(records(repo)) == 3
        (repo / "service.py").write_text(SERVICE.replace("FIXED = False", "FIXED = True"))
        rest = loop.stderr.read()
        assert loop.wait(timeout=300) == 0, waiting + rest
    finally:
        loop.kill()
    statuses = [record["status"] for record in records(repo)]
    assert statuses == ["failed", "no_change", "no_change", "success"], waiting + rest
    three, four = records(repo)[2:]
    assert three["build"]["cached"] == "local"
    assert four["build"]["cached"] == "no"
    # The fix was never committed: the snapshot of the tree still lists it (the iterations folder is git-ignored).
    assert [item["path"] for item in four["changes"]["files"]] == ["service.py"]
    assert four["changes"]["commits"] == [] and four["git"]["tree"]
    assert (waiting + rest).count("waiting for a change") == 1
