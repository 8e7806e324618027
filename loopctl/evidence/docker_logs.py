"""Server logs on the docker target: the container's stdout and stderr for a window, with the engine's timestamps."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from loopctl.evidence.extract import LogLine
from loopctl.evidence.window import LogRead, LogsUnavailable, Window, parse_stamp

MAX_BYTES = 4 << 20  # a chatty service's window is cut here; the end is kept, where the error usually is


class DockerLogs:
    """One container's log, read through the docker SDK."""

    def __init__(self, container_id: str, *, name: str = "") -> None:
        self.container_id = container_id
        self.name = name or container_id[:12]

    def read(self, window: Window, *, enough: Callable[[Sequence[LogLine]], bool] = lambda lines: False) -> LogRead:
        source = f"docker logs of {self.name} ({self.container_id[:12]})"
        lines = self._lines(window)
        if enough(lines) or datetime.now(UTC) >= window.end:
            return LogRead(lines, source)
        _wait_until(window.end)  # nothing telling yet: lines logged just after the check are part of its window
        return LogRead(self._lines(window), source)

    def _lines(self, window: Window) -> tuple[LogLine, ...]:
        raw = self._raw(window)
        return tuple(parse_line(text) for text in raw[-MAX_BYTES:].decode("utf-8", "replace").splitlines())

    def _raw(self, window: Window) -> bytes:
        import docker.errors
        import requests

        from loopctl.phases.docker.engine import docker_client

        try:
            container = docker_client().containers.get(self.container_id)
            since, until = window.start.timestamp(), window.end.timestamp()
            raw: Any = container.logs(stdout=True, stderr=True, timestamps=True, since=since, until=until)
        except docker.errors.NotFound:
            raise LogsUnavailable(f"container {self.name} is gone: its log cannot be read") from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise LogsUnavailable(f"the Docker Engine did not give {self.name}'s log: {err}") from None
        return raw if isinstance(raw, bytes) else b""


def parse_line(text: str) -> LogLine:
    """`2026-12-01T05:20:45.123456789Z message` as the engine writes it with timestamps on."""
    stamp, _, rest = text.partition(" ")
    try:
        return LogLine(rest, timestamp=parse_stamp(stamp))
    except ValueError:
        return LogLine(text)


def _wait_until(moment: datetime) -> None:
    remaining = (moment - datetime.now(UTC)).total_seconds()
    if remaining > 0:
        time.sleep(remaining)
