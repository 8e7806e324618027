"""A suite's command as a process: its own session, its output kept bounded, and everything it started ended.

A process group is not enough to find what a suite started: a child that calls `setsid` (a daemonised test
server) leaves the group and survives a group kill. So every process of a suite also carries a cookie in its
environment, as Jenkins' ProcessTreeKiller does with BUILD_ID, and loopctl looks for it in /proc once the suite is
over. A process that clears its environment, or a system without /proc, escapes this: the group kill remains.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

from loopctl.outside import one_line

# What a suite's log keeps of its output: the start (how it set up) and the end (how it finished).
OUTPUT_HEAD = 512 * 1024
OUTPUT_TAIL = 512 * 1024
KILL_GRACE = 2.0
COOKIE = "LOOPCTL_SUITE_RUN"
_READ_WAIT = 1.0  # for the last output once every process is gone (one still holding the pipe is not waited for)
_LISTED = 5


class SuiteProcess:
    """`/bin/sh -c COMMAND` in a session of its own, reading its output as it comes."""

    def __init__(self, command: str, *, cwd: Path) -> None:
        self.cookie = secrets.token_hex(12)
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, COOKIE: self.cookie},
        )
        assert self.process.stdout is not None
        self.output = BoundedOutput(self.process.stdout)

    def wait(self, timeout: float) -> int:
        """The shell's exit code (negative: the signal that ended it); raises TimeoutExpired."""
        return self.process.wait(timeout=timeout)

    def end(self) -> list[str]:
        """End whatever of the suite still runs: SIGTERM, a moment to clean up, then SIGKILL.

        Returns what it left running outside what a group kill reaches: everything, once its shell has exited
        (background jobs, daemons); at a timeout or Ctrl-C, the processes that had left its group. Each is named
        `PID COMMAND`, with `(still running)` when even SIGKILL did not end it.
        """
        ended = self.process.poll() is not None
        left = [pid for pid in self.carriers() if ended or _group_of(pid) != self.process.pid]
        named = {pid: _command_line(pid) for pid in left}
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE
        while (self.process.poll() is None or self.carriers()) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_all(signal.SIGKILL)
        self.process.wait()
        survivors = set(self._after_kill())
        return [f"{pid} {named[pid]}" + (" (still running)" if pid in survivors else "") for pid in left]

    def _after_kill(self) -> list[int]:
        deadline = time.monotonic() + 0.5
        while (alive := self.carriers()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return alive

    def _signal_all(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)
        for pid in self.carriers():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def carriers(self) -> list[int]:
        """Live processes whose environment carries this suite's cookie (zombies have none left to read)."""
        marker = f"{COOKIE}={self.cookie}".encode()
        found = []
        for entry in _proc_entries():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found


class BoundedOutput:
    """A stream read in a thread: its first OUTPUT_HEAD and last OUTPUT_TAIL bytes kept, the rest counted."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.dropped = 0  # known once `text()` has been asked
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            while chunk := os.read(stream.fileno(), 1 << 16):
                with self._lock:
                    self._keep(chunk)

    def _keep(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = OUTPUT_HEAD - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > 2 * OUTPUT_TAIL:  # trimmed now and then, so memory stays about head + 2 × tail
            del self.tail[:-OUTPUT_TAIL]

    def text(self) -> str:
        """What was kept, cut at line ends (no line is kept in part), with a line saying how much was dropped."""
        self._reader.join(timeout=_READ_WAIT)
        with self._lock:
            head, tail, total = bytes(self.head), bytes(self.tail[-OUTPUT_TAIL:]), self.total
        if len(head) + len(tail) == total:
            return (head + tail).decode("utf-8", "replace")
        head = head[: head.rfind(b"\n") + 1] or head
        tail = tail[tail.find(b"\n") + 1 :] or tail
        dropped = self.dropped = total - len(head) - len(tail)
        note = (
            f"\n[loopctl: {_size(dropped)} of output dropped here, of {_size(total)} in all: "
            f"the first {_size(len(head))} and the last {_size(len(tail))} are kept]\n"
        )
        return head.decode("utf-8", "replace") + note + tail.decode("utf-8", "replace")


def _size(count: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _proc_entries() -> list[Path]:
    try:
        return [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:  # no /proc (macOS): the group kill is all there is
        return []


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return one_line(raw.replace(b"\0", b" ").decode("utf-8", "replace").strip(), 80) or "?"


def described(left: list[str]) -> str:
    """`left 2 process(es) running after it ended: 4242 sleep 600, …; loopctl ended them`."""
    shown = ", ".join(left[:_LISTED]) + (f" and {len(left) - _LISTED} more" if len(left) > _LISTED else "")
    stayed = sum(item.endswith("(still running)") for item in left)
    ending = f"{stayed} still running: end them by hand" if stayed else "loopctl ended them"
    return f"left {len(left)} process(es) running after it ended: {shown}; {ending}"
