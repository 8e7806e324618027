"""Evidence from the container's log for a probe that ended without a close frame: the exception that ended it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from loopctl.secrets import redact

# The last line of a Python traceback (`KeyError: 'text'`), or Node's (`TypeError: x is not a function`).
_EXCEPTION = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt)\b(?::.*)?$")
_LIMIT = 200
# Closes whose cause is usually an exception in the handler, and the handler's log says which.
HANDLER_CODES = (1006, 1011)


def last_exception(log: str) -> str | None:
    """The last line of the last traceback in `log`, redacted and clipped; None when there is none."""
    lines = log.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index].strip()
        if _EXCEPTION.match(line) and _after_traceback(lines, index):
            line = redact(" ".join(line.split()))
            return line if len(line) <= _LIMIT else line[: _LIMIT - 1] + "…"
    return None


def container_log_since(container_id: str, since: float) -> str:
    """What the container wrote (stdout and stderr) from `since` (epoch seconds) on; empty when unreadable."""
    from docker.errors import DockerException

    from loopctl.phases.docker.engine import docker_client

    try:
        container: Any = docker_client().containers.get(container_id)
        raw = container.logs(stdout=True, stderr=True, since=int(since))
    except DockerException:
        return ""
    return bytes(raw).decode("utf-8", errors="replace")


def with_evidence(hint: str, exception: str) -> str:
    return f"{hint} The server's log at that time: {exception}"


def wants_evidence(codes: Sequence[int | None]) -> bool:
    return any(code in HANDLER_CODES for code in codes)


def _after_traceback(lines: list[str], index: int) -> bool:
    """Python: the indented frames above it start with a traceback header. Node: a stack frame (`at …`) below it."""
    above = index - 1
    while above >= 0 and lines[above][:1].isspace():
        above -= 1
    python = above < index - 1 and above >= 0 and lines[above].startswith("Traceback (most recent call last)")
    node = index + 1 < len(lines) and lines[index + 1].strip().startswith("at ")
    return python or node
