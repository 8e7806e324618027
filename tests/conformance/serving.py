"""A conformance server in its own process: the app prints `ready` once it listens, the test waits for that line."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.realparts import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def started(command: list[str], *, env: dict[str, str] | None = None) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`command PORT` on a free port, from the repo root, once it printed `ready`; killed when the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [*command, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.strip() == "ready", process.stderr.read() if process.stderr else ""
        yield port, process
    finally:
        process.kill()
        process.communicate(timeout=10)
