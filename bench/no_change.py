"""An unchanged `loopctl iterate` (the skip path) against a raw-tools script doing the same checks, alternating.

A: `loopctl iterate --ci --json` on the docker target with nothing changed since the last iteration: input
digest, registry lookup, container reused, health and chat checks, record and report.
B: what a person's script does to reach the same verdict, as one Python process: sha256 over the context's
files, one registry HEAD of the input tag, `docker inspect` of the container, GET /health, and one websocket
chat exchange with a freshly minted HS256 JWT (hmac), reading the five events.
C: the floor, `floor.sh`: the same checks with the least machinery — sha256sum over the context, three HTTP
requests with curl (registry, engine, /health) and one minimal WebSocket exchange (node's built-in client).
Also (stderr) the unchanged iteration against one after a one-file change, the figure this script used to give.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

from sandbox import Sandbox, phase_line
from timing import PYTHON, figure, median, require_venv, say, spread, timed, verdict

ROUNDS = 5
GOAL_RATIO = 1.5
FLOOR = Path(__file__).resolve().parent / "floor.sh"

RAW_SCRIPT = textwrap.dedent(
    """
    import base64, hashlib, hmac, json, os, subprocess, sys, time, urllib.request
    from websockets.sync.client import connect

    context, registry, repository, tag, container, port, secret, docker = sys.argv[1:9]
    digest = hashlib.sha256()
    for folder, folders, files in os.walk(context):
        folders.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(path.encode())
            with open(path, "rb") as stream:
                digest.update(stream.read())
    head = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(head, timeout=10) as response:
        assert response.status == 200, response.status
    inspected = subprocess.run([docker, "inspect", container], capture_output=True, check=True, text=True)
    assert json.loads(inspected.stdout)[0]["State"]["Running"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        assert response.status == 200
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    claims = json.dumps({"sub": "probe", "iat": now, "exp": now + 300}).encode()
    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(claims)
    token = signing + "." + b64(hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest())
    with connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"Authorization": f"Bearer {token}"}) as websocket:
        websocket.send(json.dumps({"type": "user_message", "payload": {"content": "hello"}}))
        seen = []
        while len(seen) < 5:
            seen.append(json.loads(websocket.recv(timeout=30))["type"])
    print(" ".join(seen))
    """
)


def check_skipped(record: dict[str, Any]) -> None:
    """An unchanged tree must take the skip path; otherwise the ratio would measure something else."""
    cached = (record.get("build") or {}).get("cached")
    reused = (record.get("deploy") or {}).get("reused")
    if cached != "remote" or reused is not True:
        say(f"  warning: the unchanged iteration did not skip (build cached={cached}, deploy reused={reused})")


def raw_argv(box: Sandbox, record: dict[str, Any], docker: str) -> list[str | Path]:
    build, deploy = record["build"], record["deploy"]
    registry, repository = build["image"].split("/", 1)
    port = deploy["url"].rsplit(":", 1)[1].strip("/")
    tag = build["cache_tag"].rsplit(":", 1)[1]
    return [
        PYTHON,
        "-c",
        RAW_SCRIPT,
        box.service,
        registry,
        repository,
        tag,
        deploy["service"],
        port,
        box.secret,
        docker,
    ]


def floor_argv(box: Sandbox, record: dict[str, Any]) -> list[str | Path]:
    """floor.sh's arguments: the same context, registry, tag, container, port and secret as the raw script."""
    arguments = raw_argv(box, record, "docker")[3:-1]  # after `python -c SCRIPT`, without the docker binary
    return ["sh", FLOOR, *arguments]


def run_floor(box: Sandbox, record: dict[str, Any]) -> float:
    elapsed, done = timed(floor_argv(box, record), env=box.env)
    if done.returncode != 0:
        say(f"the floor script failed:\n{done.stderr[-2000:]}")
        raise SystemExit(1)
    return elapsed


def main() -> None:
    require_venv()
    docker = shutil.which("docker")
    missing = [tool for tool in ("docker", "curl", "openssl", "node", "sha256sum") if shutil.which(tool) is None]
    if docker is None or missing:
        say(f"missing on PATH: {', '.join(missing)} (the raw-tools and floor scripts use them)")
        raise SystemExit(2)
    changed: list[float] = []
    unchanged: list[float] = []
    raw: list[float] = []
    floor: list[float] = []
    with Sandbox("nochange") as box:
        config = box.write_config("loop")
        box.touch()
        elapsed, record = box.iterate(config)
        say(f"warm-up (fresh registry, first container; not counted): {elapsed:.2f}s; {phase_line(record, elapsed)}")
        box.touch()
        elapsed, record = box.iterate(config)
        changed.append(elapsed)
        say(f"after a one-file change: {elapsed:.2f}s; {phase_line(record, elapsed)}")
        for round_number in range(1, ROUNDS + 1):
            elapsed, record = box.iterate(config)
            unchanged.append(elapsed)
            check_skipped(record)
            say(f"round {round_number} unchanged: {elapsed:.2f}s wall; {phase_line(record, elapsed)}")
            elapsed, done = timed(raw_argv(box, record, docker), env=box.env)
            if done.returncode != 0:
                say(f"the raw-tools script failed:\n{done.stderr[-2000:]}")
                raise SystemExit(1)
            raw.append(elapsed)
            say(f"round {round_number} raw tools: {elapsed:.2f}s wall ({done.stdout.strip()})")
            floor.append(run_floor(box, record))
            say(f"round {round_number} floor: {floor[-1]:.2f}s wall")
    ratio = median(unchanged) / median(raw)
    over_floor = median(unchanged) / median(floor)
    say(f"  unchanged {median(unchanged):.2f}s vs changed {changed[0]:.2f}s = {median(unchanged) / changed[0]:.2f}x")
    say(f"  min/median/max: unchanged {spread(unchanged)}, raw tools {spread(raw)}, floor {spread(floor)}")
    figure(
        f"no_change: unchanged iterate {median(unchanged):.2f}s vs raw-tools script {median(raw):.2f}s"
        f" = {ratio:.2f}x, vs the floor (floor.sh) {median(floor):.2f}s = {over_floor:.2f}x"
        f" (median of {ROUNDS}; goal <= {GOAL_RATIO:.2f}x the raw tools) {verdict(ratio <= GOAL_RATIO)}"
    )


if __name__ == "__main__":
    main()
