"""Start examples/agent-service as a real subprocess on 127.0.0.1 and hand back where it listens."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SERVICE_DIR = Path(__file__).resolve().parents[2] / "examples" / "agent-service"
DEFAULT_SECRET = "agent-service-test-secret"
# What the service answers a user_message with, in order: every test and benchmark expects these.
EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
# Point this at another interpreter (e.g. one with websockets 10.4) to run the service under it.
PYTHON_ENV_VAR = "AGENT_SERVICE_PYTHON"
STARTUP_TIMEOUT = 10.0


class ServiceStartError(RuntimeError):
    """The service did not print its `listening on` line in time."""


@dataclass(frozen=True)
class ServiceHandle:
    """A running agent service: its port, its process, and the stderr it has written so far."""

    port: int
    process: subprocess.Popen[str]
    stderr_file: IO[str]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint, `/ws` included."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def stderr_text(self) -> str:
        return _read_all(self.stderr_file)


def service_python() -> str:
    """The interpreter that runs the service: $AGENT_SERVICE_PYTHON, else this one."""
    return os.environ.get(PYTHON_ENV_VAR) or sys.executable


def service_command() -> list[str]:
    return [service_python(), "-m", "agent_service"]


def service_env(
    fault: str | None = None, secret: str | None = DEFAULT_SECRET, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The service's environment: loopback, a free port, `secret` as JWT_SECRET (None: unset), `fault`."""
    env = {key: value for key, value in os.environ.items() if key not in {"FAULT", "JWT_SECRET", "SLOW_DELAY"}}
    env.update(HOST="127.0.0.1", PORT="0", PYTHONUNBUFFERED="1", PYTHONPATH=str(SERVICE_DIR))
    if secret is not None:
        env["JWT_SECRET"] = secret
    if fault is not None:
        env["FAULT"] = fault
    env.update(extra_env or {})
    return env


@contextmanager
def running_service(
    fault: str | None = None,
    secret: str | None = DEFAULT_SECRET,
    extra_env: Mapping[str, str] | None = None,
    *,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> Iterator[ServiceHandle]:
    """Run the service until the block ends, then stop it (SIGTERM, then SIGKILL) whatever happened."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr_file:
        process = subprocess.Popen(
            service_command(),
            cwd=SERVICE_DIR,
            env=service_env(fault, secret, extra_env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
        )
        try:
            port = _wait_for_port(process, stderr_file, timeout=startup_timeout)
            yield ServiceHandle(port=port, process=process, stderr_file=stderr_file)
        finally:
            _stop(process)


def _wait_for_port(process: subprocess.Popen[str], stderr_file: IO[str], *, timeout: float) -> int:
    first_line = _first_line(process, timeout=timeout)
    prefix, _, port = first_line.strip().rpartition(":")
    if not prefix.startswith("listening on ") or not port.isdigit():
        _stop(process)
        raise ServiceStartError(
            f"agent service did not print 'listening on HOST:PORT' within {timeout:g} s "
            f"(first line: {first_line!r}, exit code: {process.poll()})\n"
            f"--- stderr ---\n{_read_all(stderr_file)}"
        )
    return int(port)


def _first_line(process: subprocess.Popen[str], *, timeout: float) -> str:
    # readline() blocks with no timeout of its own, so it runs in a thread we can stop waiting for.
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout
    assert stdout is not None  # Popen(stdout=PIPE)
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _read_all(stream: IO[str]) -> str:
    stream.flush()
    stream.seek(0)
    return stream.read()
