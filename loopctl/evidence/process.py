"""Whether the service's process survived the probe: the docker container's state, or Cloud Run's word in its log."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopctl.evidence.docker_logs import DockerLogs
from loopctl.evidence.extract import LogLine, clean
from loopctl.evidence.window import LogsUnavailable

_CALLED_EXIT = re.compile(r"\bContainer called exit\((?P<code>-?\d{1,4})\)")
_MEMORY_EXCEEDED = re.compile(r"\bMemory limit of [^.]{1,40} exceeded with [^.]{1,40} used")
LAST_LINES = 20  # of the container's log, when its process ended: what it said last


@dataclass(frozen=True)
class ProcessEnd:
    """The process ended (or was restarted) during or after the probe: how, and when, by the engine's clock."""

    status: str
    exit_code: int | None
    oom_killed: bool
    restarts: int
    finished_at: str | None
    lines: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "oom_killed": self.oom_killed,
            "restarts": self.restarts,
            "finished_at": self.finished_at,
            "lines": list(self.lines),
        }


def container_end(container_id: str, *, settle_s: float = 0.0) -> ProcessEnd | None:
    """The container's end, or None while its first process still runs; a process seen dying (a dropped
    connection) is given `settle_s` to be marked ended. Docker Engine API, ContainerInspect:
    `State.{Status, Running, ExitCode, OOMKilled, FinishedAt}` and `RestartCount`; ContainerWait."""
    import docker.errors
    import requests

    from loopctl.clients.docker_engine import docker_client

    try:
        api = docker_client().api
        inspected = api.inspect_container(container_id)
        if settle_s > 0 and _running(inspected):
            with contextlib.suppress(requests.exceptions.RequestException):
                api.wait(container_id, timeout=settle_s)
            inspected = api.inspect_container(container_id)
        if _running(inspected):
            return None
        state = inspected.get("State") or {}
        restarts = int(inspected.get("RestartCount") or 0)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        raise LogsUnavailable(f"the Docker Engine did not say whether the container still runs: {err}") from None
    tty = bool((inspected.get("Config") or {}).get("Tty"))
    lines = tuple(clean(line) for line in DockerLogs(container_id, tty=tty).last(LAST_LINES))
    finished = str(state.get("FinishedAt") or "")
    return ProcessEnd(
        status=clean(str(state.get("Status") or "unknown"), 40),
        exit_code=_int(state.get("ExitCode")),
        oom_killed=bool(state.get("OOMKilled")),
        restarts=restarts,
        finished_at=None if not finished or finished.startswith("0001-") else clean(finished, 40),
        lines=lines,
    )


def platform_end(lines: Sequence[LogLine]) -> ProcessEnd | None:
    """Cloud Run says in the revision's log when the container's process ended: `Container called exit(1).`, or
    `Memory limit of 512 MiB exceeded with 530 MiB used. …` (the system entries of
    https://cloud.google.com/run/docs/troubleshooting#container-failed-to-start and the memory-limits page)."""
    for index in range(len(lines) - 1, -1, -1):
        text = lines[index].text
        called, memory = _CALLED_EXIT.search(text), _MEMORY_EXCEEDED.search(text)
        if called is None and memory is None:
            continue
        stamp = lines[index].timestamp
        return ProcessEnd(
            status="exited",
            exit_code=int(called["code"]) if called is not None else None,
            oom_killed=memory is not None,
            restarts=0,
            finished_at=stamp.isoformat().replace("+00:00", "Z") if stamp is not None else None,
            lines=tuple(clean(line.text) for line in lines[max(0, index + 1 - LAST_LINES) : index + 1]),
        )
    return None


def _running(inspected: dict[str, Any]) -> bool:
    """Its first process still runs: running, never restarted."""
    return bool((inspected.get("State") or {}).get("Running")) and not inspected.get("RestartCount")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
