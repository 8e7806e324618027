"""An iteration running in the background of the MCP server: its phases as they go, its last log lines, its end."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.outside_text import one_line
from loopctl.phases.base import Event

LOG_TAIL = 20  # log lines kept of the current phase


@dataclass
class Run:
    """One background iteration; written by its thread, read by the tools under `lock`."""

    config_path: Path
    skip: str
    reason: str
    services: tuple[str, ...] = ()  # only these services and their dependencies (several services)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)
    number: int | None = None
    phases: dict[str, str] = field(default_factory=dict)
    current: str | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    events: int = 0
    done: bool = False
    error: LoopctlError | None = None
    exit_code: int | None = None
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def on_event(self, event: Event) -> None:
        with self.changed:
            if self.number is None:
                self.number = _reserved_number(self.config_path)
            if event.kind == "start":
                self.phases[event.label], self.current = "running", event.label
                self.log.clear()
            elif event.kind == "end":
                self.phases[event.label] = event.status or "ok"
            elif event.message:
                self.log.append(one_line(f"{event.label}: {event.message}"))
            self.events += 1
            self.changed.notify_all()

    def finish(
        self, *, exit_code: int | None = None, number: int | None = None, error: LoopctlError | None = None
    ) -> None:
        with self.changed:
            self.done, self.exit_code, self.error = True, exit_code, error
            self.number = number if number is not None else self.number
            self.current = None
            self.changed.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Until an event after the `seen`-th, the end, or `timeout` seconds."""
        with self.changed:
            self.changed.wait_for(lambda: self.done or self.events > seen, timeout=max(timeout, 0.0))

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "number": self.number,
                "running": not self.done,
                "reason": self.reason,
                "phases": [{"name": name, "status": status} for name, status in self.phases.items()],
                "current_phase": self.current,
                "log_tail": list(self.log),
                "elapsed_s": round(time.monotonic() - self.started, 1),
            }


class Runner:
    """At most one iteration per server: a second `iterate` is told the running one's number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Run | None = None

    def start(self, config_path: Path, *, skip: str, reason: str, services: tuple[str, ...] = ()) -> tuple[Run, bool]:
        """The running iteration (and False), or a new one started in a thread (and True)."""
        with self._lock:
            if self.current is not None and not self.current.done:
                return self.current, False
            run = Run(config_path, skip, reason, services)
            self.current = run
        threading.Thread(target=_iterate, args=(run,), name="loopctl-iteration", daemon=True).start()
        return run, True

    def running(self, number: int | None) -> Run | None:
        run = self.current
        if run is None or run.done or (number is not None and run.number not in (None, number)):
            return None
        return run


def _iterate(run: Run) -> None:
    """The same core as `loopctl iterate`, with the run's own event sink beside the (plain, stderr) progress."""
    from loopctl.iterate import IterateOptions, iterate_once

    options = IterateOptions(
        config_path=run.config_path, skip=run.skip, ci=True, on_event=run.on_event, services=run.services
    )
    try:
        code, record = iterate_once(options)
    except LoopctlError as err:
        run.finish(error=err)
    except BaseException as err:  # a bug: said as one line to the agent, never a traceback on the protocol
        from loopctl.phases.base import internal_error

        info = internal_error(err)
        run.finish(error=LoopctlError(info.message, hint=info.hint, kind=ErrorKind.INTERNAL_ERROR))
    else:
        run.finish(exit_code=int(code), number=record.number)


def _reserved_number(config_path: Path) -> int | None:
    """The number the running iteration reserved: read once its first phase starts, under its lock."""
    from loopctl.config import load_config
    from loopctl.records.store import Store

    try:
        config = load_config(config_path, check_env=False)
    except LoopctlError:
        return None
    return Store(config.path(config.iterations_dir)).last_number()
