"""`loopctl iterate` after a one-file change against the same work done with the raw tools, rotating.

Two raw scripts: one stops the old container gracefully (`docker stop`, then `docker rm`), as loopctl does,
the other removes it with `docker rm -f`. The figure is against the graceful one; the other is on stderr.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox import Sandbox, engine_cli, phase_line
from timing import checked, figure, median, require_venv, say, spread, timed, verdict
from websockets.sync.client import connect

from loopctl.secrets.jwt import mint_jwt
from tests.integration.agent_service import EVENTS
from tests.support.realparts import docker_client, free_port

ROUNDS = 5
GOAL_RATIO = 1.15
CONTAINER_PORT = 8080
READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.05
CHAT_TIMEOUT_S = 30.0
BASE_IMAGE = "loopctl-base:bookworm"
PLATFORM = "linux/amd64"
_PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class RawLoop:
    """Build, push, replace the container, wait until it answers, chat once: what a person's script does."""

    def __init__(self, box: Sandbox, *, docker: str | None, graceful: bool) -> None:
        self.box = box
        self.docker = docker
        self.graceful = graceful
        label = "graceful" if graceful else "raw"
        self.repository = box.repository(label)
        self.name = box.container(label)
        self.host_port = 0
        self.builds = 0
        self.steps: dict[str, float] = {}
        # The classic builder, as loopctl's SDK call uses: the comparison is about the loop, not the builder.
        self.env = {**box.env, "DOCKER_BUILDKIT": "0", "JWT_SECRET": box.secret}

    @property
    def tool(self) -> str:
        return f"docker CLI ({self.docker})" if self.docker else "docker SDK (no docker binary on PATH)"

    def run(self) -> float:
        """One loop; its wall-clock seconds (per-step times land in self.steps)."""
        self.builds += 1
        self.host_port = self.host_port or free_port()
        tag = f"raw-{self.builds:04d}"
        began = time.perf_counter()
        self._step("build", lambda: self._build(tag))
        digest = self._step("push", lambda: self._push(tag))
        self._step("run", lambda: self._replace_container(f"{self.repository}@{digest}"))
        self._step("ready", self._wait_until_listening)
        self._step("chat", self._chat)
        return time.perf_counter() - began

    def _step(self, name: str, action: Callable[[], str | None]) -> str:
        began = time.perf_counter()
        result = action()
        self.steps[name] = time.perf_counter() - began
        return result or ""

    def _build(self, tag: str) -> None:
        context, reference = self.box.service, f"{self.repository}:{tag}"
        if self.docker:
            args = ["build", "-q", "-t", reference, "--platform", PLATFORM, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
            checked([self.docker, *args, context], env=self.env)
            return
        sdk().images.build(path=str(context), tag=reference, buildargs={"BASE_IMAGE": BASE_IMAGE}, platform=PLATFORM)

    def _push(self, tag: str) -> str:
        if self.docker:
            output = checked([self.docker, "push", f"{self.repository}:{tag}"], env=self.env)[1].stdout
        else:
            stream = sdk().images.push(self.repository, tag=tag, stream=True, decode=True)
            output = "\n".join(json.dumps(line) for line in stream)
        if match := _PUSHED_DIGEST.search(output):
            return match[1]
        say(f"no digest in the push output:\n{output[-1000:]}")
        raise SystemExit(1)

    def _replace_container(self, image: str) -> None:
        if self.docker:
            if self.graceful:  # SIGTERM, then SIGKILL after 10 s; exits 1 when there is none
                timed([self.docker, "stop", self.name], env=self.env)
            checked([self.docker, "rm", "-f", self.name], env=self.env)  # exits 0 when there is none
            publish = f"127.0.0.1:{self.host_port}:{CONTAINER_PORT}"
            run = ["run", "-d", "--name", self.name, "-p", publish, "-e", "JWT_SECRET", "-e", f"PORT={CONTAINER_PORT}"]
            checked([self.docker, *run, image], env=self.env)
            return
        client = sdk()
        for found in client.containers.list(all=True, filters={"name": self.name}):
            if found.name == self.name:
                if self.graceful:
                    found.stop()
                found.remove(force=True)
        client.containers.run(
            image,
            detach=True,
            name=self.name,
            ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", self.host_port)},
            environment={"JWT_SECRET": self.box.secret, "PORT": str(CONTAINER_PORT)},
        )

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if health_status(self.host_port) == 200:
                return
            time.sleep(READY_POLL_S)
        say(f"{self.name} did not answer GET /health in {READY_TIMEOUT_S:.0f}s")
        raise SystemExit(1)

    def _chat(self) -> None:
        token = mint_jwt(self.box.secret, {"sub": "probe"}, ttl=300)
        url = f"ws://127.0.0.1:{self.host_port}/ws"
        seen: list[str] = []
        with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10) as socket:
            socket.send(json.dumps({"type": "user_message", "payload": {"content": "hello"}}))
            deadline = time.monotonic() + CHAT_TIMEOUT_S
            while seen[-1:] != [EVENTS[-1]] and time.monotonic() < deadline:
                seen.append(json.loads(socket.recv(timeout=CHAT_TIMEOUT_S)).get("type"))
        if [event for event in seen if event in EVENTS] != list(EVENTS):
            say(f"the chat exchange saw {seen}, not {list(EVENTS)}")
            raise SystemExit(1)


def health_status(port: int) -> int | None:
    """GET /health's status, or None while nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def sdk() -> Any:
    """The docker SDK client, for a machine without the `docker` binary."""
    return docker_client()


def loopctl_once(box: Sandbox, config: Path) -> tuple[float, str]:
    box.touch()
    elapsed, record = box.iterate(config)
    return elapsed, phase_line(record, elapsed)


def raw_once(box: Sandbox, raw: RawLoop) -> tuple[float, str]:
    box.touch()
    elapsed = raw.run()
    return elapsed, ", ".join(f"{name} {seconds:.2f}s" for name, seconds in raw.steps.items())


def main() -> None:
    require_venv()
    times: dict[str, list[float]] = {"loopctl": [], "graceful": [], "rm -f": []}
    with Sandbox("overhead") as box:
        config = box.write_config("loopctl")
        graceful = RawLoop(box, docker=engine_cli(), graceful=True)
        forced = RawLoop(box, docker=engine_cli(), graceful=False)
        say(f"baseline tool: {graceful.tool}, with the classic builder that loopctl's SDK build also uses")
        loops: dict[str, Callable[[], tuple[float, str]]] = {
            "loopctl": lambda: loopctl_once(box, config),
            "graceful": lambda: raw_once(box, graceful),
            "rm -f": lambda: raw_once(box, forced),
        }
        for label, loop in loops.items():
            elapsed, steps = loop()
            say(f"warm-up {label} (fresh registry: base layers uploaded; not counted): {elapsed:.2f}s; {steps}")
        labels = list(loops)
        for round_number in range(1, ROUNDS + 1):
            # Rotated, so no side always runs right after the same other side's build.
            shift = round_number % len(labels)
            for label in labels[shift:] + labels[:shift]:
                elapsed, steps = loops[label]()
                times[label].append(elapsed)
                say(f"round {round_number} {label:<8} {elapsed:.2f}s; {steps}")
        tool = graceful.tool
    ratio = median(times["loopctl"]) / median(times["graceful"])
    forced_ratio = median(times["loopctl"]) / median(times["rm -f"])
    say("  min/median/max: " + ", ".join(f"{label} {spread(samples)}" for label, samples in times.items()))
    say(f"  against the rm -f script: {forced_ratio:.2f}x")
    figure(
        f"loop_overhead: loopctl iterate {median(times['loopctl']):.2f}s vs raw {tool} (graceful stop) + websockets"
        f" client {median(times['graceful']):.2f}s = {ratio:.2f}x; vs rm -f {forced_ratio:.2f}x (median of {ROUNDS}"
        f" each, rotating; goal <= {GOAL_RATIO:.2f}x the graceful script) {verdict(ratio <= GOAL_RATIO)}"
    )


if __name__ == "__main__":
    main()
