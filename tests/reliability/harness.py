"""Run loopctl as a user does (a subprocess), read back what it wrote, and judge an iteration as a whole."""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopctl.exitcodes import ExitCode
from loopctl.records.record import RECORD_SCHEMA
from tests.integration.agent_service import EVENTS, running_service

REPO = Path(__file__).resolve().parents[2]
SERVICE_SOURCE = REPO / "examples" / "agent-service"
LOOPCTL = (sys.executable, "-m", "loopctl")
JWT_SECRET = "reliability-jwt-secret-5150-q7"
GATING = ("build", "push", "deploy")
EXIT_CHECKS, EXIT_USAGE, EXIT_INCONCLUSIVE = ExitCode.CHECKS_FAILED, ExitCode.USAGE, ExitCode.INCONCLUSIVE
EXIT_BUILD_PUSH, EXIT_DEPLOY, EXIT_INTERRUPTED = (
    ExitCode.BUILD_OR_PUSH_FAILED,
    ExitCode.DEPLOY_FAILED,
    ExitCode.INTERRUPTED,
)


def loopctl_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a loopctl run: this one, without CI switches that would change its output."""
    env = {key: value for key, value in os.environ.items() if key not in ("GITHUB_STEP_SUMMARY", "CI")}
    env["DEMO_JWT_SECRET"] = JWT_SECRET
    env.update(extra or {})
    return env


def run_loopctl(
    folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m loopctl ARGS` in `folder`, to the end."""
    return subprocess.run(
        [*LOOPCTL, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=loopctl_env(env),
        cwd=folder,
        check=False,
    )


def iterate(
    folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`loopctl iterate --config folder/config.yaml ARGS`."""
    return run_loopctl(folder, "iterate", "--config", str(folder / "config.yaml"), *args, env=env, timeout=timeout)


def iterate_chat(folder: Path, *args: str, times: int = 1) -> subprocess.CompletedProcess[str]:
    """`times` iterations of `folder` (`--ci` and ARGS) probing the sample service's chat with a JWT; each but the
    last must pass; the last one's run."""
    with running_service(secret=JWT_SECRET) as service:
        write_config(folder, url_config(service.http_url, chat_check(auth=JWT_AUTH)))
        for _ in range(times - 1):
            earlier = iterate(folder, "--ci", *args)
            assert earlier.returncode == 0, earlier.stderr
        return iterate(folder, "--ci", *args)


def skipped_records(stderr: str) -> set[int]:
    """The record numbers named by `warning: skipped` lines, each named once."""
    numbers = [
        int(line.split("iterations/")[1][:4]) for line in stderr.splitlines() if line.startswith("warning: skipped ")
    ]
    assert len(numbers) == len(set(numbers)), stderr
    return set(numbers)


def in_a_terminal(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`loopctl iterate` under a pseudo-terminal (`script`), so the live view renders."""
    command = shlex.join([*LOOPCTL, "iterate", "--config", str(folder / "config.yaml"), *args])
    return subprocess.run(
        ["script", "-qefc", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
        env=loopctl_env(env | {"TERM": "xterm-256color", "COLUMNS": "120"}),
        cwd=folder,
        check=False,
    )


@dataclass
class Running:
    """A loopctl process still running: its stderr lines arrive as it writes them, so a test can act on one."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    _stdout: list[str] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.process.stderr is not None and self.process.stdout is not None
        stdout = self.process.stdout
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stderr,), daemon=True),
            threading.Thread(target=lambda: self._stdout.append(stdout.read()), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, needle: str, *, timeout: float = 60) -> str:
        """The first stderr line containing `needle`; fails if the process ends or the time runs out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no stderr line with {needle!r}; saw:\n{''.join(self.seen)}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self, *, timeout: float = 30) -> tuple[int, str, str]:
        """Exit code, stdout and the whole stderr, once the process has ended."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"loopctl still ran {timeout:g}s later; stderr so far:\n{''.join(self.seen)}"
            ) from None
        for reader in self._readers:  # both pipes read to their end
            reader.join(timeout=10)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self._stdout), "".join(self.seen)


def start_loopctl(folder: Path, *args: str, env: dict[str, str] | None = None) -> Running:
    process = subprocess.Popen(
        [*LOOPCTL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=loopctl_env(env),
        cwd=folder,
    )
    return Running(process)


def start_iterate(folder: Path, *args: str, env: dict[str, str] | None = None) -> Running:
    return start_loopctl(folder, "iterate", "--config", str(folder / "config.yaml"), *args, env=env)


# --- what an iteration left behind ---------------------------------------------------------------


def iterations(folder: Path) -> Path:
    return folder / "iterations"


def record_of(folder: Path, number: int) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((iterations(folder) / f"{number:04d}.json").read_text(encoding="utf-8"))
    return document


def leftovers(folder: Path) -> list[Path]:
    """Temporary files a write left behind."""
    return sorted(iterations(folder).glob("*.tmp")) + sorted(iterations(folder).glob(".*.tmp"))


def phase_statuses(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(phase["name"], phase["status"]) for phase in record["phases"]]


def phase(record: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(item for item in record["phases"] if item["name"] == name)
    return found


def assert_complete(folder: Path, number: int, *, status: str, phases: list[tuple[str, str]]) -> dict[str, Any]:
    """Record and report both written whole, for this status and these phase results, and nothing half-written."""
    record = record_of(folder, number)
    assert (record["schema"], record["number"], record["status"]) == (RECORD_SCHEMA, number, status), record
    assert phase_statuses(record) == phases, record["phases"]
    assert record["started_at"] <= record["finished_at"]
    for item in record["phases"]:
        if item["status"] == "aborted" or (item["status"] == "failed" and item["name"] in GATING):
            assert item["error"]["kind"] and item["error"]["message"], item
    report = (iterations(folder) / f"{number:04d}.md").read_text(encoding="utf-8")
    assert report.startswith("# ") and f"iteration {number}: {status.replace('_', ' ')}" in report.splitlines()[0]
    assert "## Deployment" in report and report.endswith("\n")
    assert not leftovers(folder), leftovers(folder)
    return record


def assert_no_traceback(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output, output


def fragments(secret: str, *, window: int | None = None) -> list[str]:
    """The secret, and for a JWT its signature on its own (a report could cut a token, never its signature).

    With `window`, every run of that many characters of it: no part of the secret may appear either.
    """
    if window is not None:
        return [secret[start : start + window] for start in range(max(1, len(secret) - window + 1))]
    return [secret, secret.rsplit(".", 1)[-1]] if secret.count(".") == 2 else [secret]


def assert_nowhere(secrets: Iterable[str], *, folder: Path, outputs: dict[str, str], window: int | None = None) -> None:
    """None of `secrets` in any file under `folder` nor in any of `outputs` (stdout, stderr, …)."""
    written = {str(path): path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file()}
    places = {**written, **outputs}
    leaks = [
        (where, secret[:12] + "…")
        for secret in {fragment for value in secrets for fragment in fragments(value, window=window)}
        for where, text in places.items()
        if secret in text
    ]
    assert not leaks, leaks


# --- configs -------------------------------------------------------------------------------------


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def chat_check(name: str = "chat-events", *, timeout: float = 10, auth: str = "", extra: str = "") -> str:
    """A YAML check item streaming the sample service's five events (`auth` is a YAML flow mapping)."""
    auth_line = f"\n        auth: {auth}" if auth else ""
    return f"""\
    - name: {name}
      priority: 1
      impact: Users can chat and see the agent work
      websocket:
        path: /ws{auth_line}
        send: {{type: user_message, payload: {{content: hello}}}}
        expect_events: [{", ".join(EVENTS)}]
        timeout: {timeout:g}{extra}
"""


JWT_AUTH = "{type: bearer, token: {jwt: {secret: {env: DEMO_JWT_SECRET}, claims: {sub: probe}}}}"


def url_config(url: str, checks: str) -> str:
    """A `deploy.target: url` config with these YAML check items."""
    return f"""\
project: reliability
iterations_dir: iterations
deploy: {{target: url, url: "{url}"}}
probe:
  checks:
{checks}"""


HEALTH_CHECK = """\
    - name: health
      priority: 1
      http: {path: /health, expect_status: 200, timeout: 5}
"""
