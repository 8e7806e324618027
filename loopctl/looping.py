"""`loopctl loop`: iterate, wait for the source to change (or a timer), iterate again, until a stop condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from loopctl.config import load_config
from loopctl.exitcodes import ExitCode
from loopctl.iterate import IterateOptions, iterate_once
from loopctl.records.record import Record
from loopctl.ui import stderr_console
from loopctl.watch import source_root, source_state, wait_for_change


@dataclass(frozen=True)
class LoopOptions:
    iterate: IterateOptions
    max_iterations: int | None = None
    until: str = "success"  # "success" | "never"
    interval: float = 2.0
    debounce: float = 1.0
    every: float | None = None


def run_loop(options: LoopOptions, *, sleep: Callable[[float], None] = time.sleep) -> ExitCode:
    """Iterate until success (or `--max`); Ctrl-C while waiting ends with 130, during an iteration it aborts it."""
    config = load_config(options.iterate.config_path)
    root = source_root(config)
    timer = options.every if options.every is not None else (None if root is not None else options.interval)
    console = stderr_console()
    count = 0
    while True:
        state = source_state(root) if root is not None and timer is None else None
        code, record = iterate_once(options.iterate)
        count += 1
        if _should_stop(options, code, record, count):
            return code
        what = f"{timer:g}s" if timer is not None else f"a change under {root}"
        console.print(
            f"loop: iteration {record.number} was {record.status}; waiting for {what} (Ctrl-C stops)", markup=False
        )
        try:
            if timer is not None:
                sleep(timer)
            else:
                assert root is not None
                wait_for_change(root, interval=options.interval, debounce=options.debounce, sleep=sleep, since=state)
        except KeyboardInterrupt:
            console.print("loop: stopped while waiting", markup=False)
            return ExitCode.INTERRUPTED


def _should_stop(options: LoopOptions, code: ExitCode, record: Record, count: int) -> bool:
    if code in (ExitCode.INTERRUPTED, ExitCode.USAGE):
        return True
    if options.until == "success" and record.status == "success":
        return True
    return options.max_iterations is not None and count >= options.max_iterations
