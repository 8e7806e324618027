"""`loopctl loop`: iterate, wait for the source to change (or a timer), iterate again, until a stop condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loopctl.config import load_config
from loopctl.exitcodes import ExitCode
from loopctl.iterate import IterateOptions, iterate_once
from loopctl.records.record import Record
from loopctl.runner import Terminated, sigterm_as_interrupt
from loopctl.ui import stderr_console
from loopctl.watch import SourceTree, source_state, source_tree, wait_for_change


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
    tree = source_tree(config)
    timer = options.every if options.every is not None else (None if tree is not None else options.interval)
    console = stderr_console()
    count = 0
    while True:
        code, record = iterate_once(options.iterate)
        count += 1
        if _should_stop(options, code, record, count):
            return code
        if timer is None and tree is not None and inputs_moved(record, options.iterate.config_path):
            console.print(
                f"loop: the build's inputs changed during iteration {record.number}; iterating again", markup=False
            )
            continue
        # Taken after the iteration's own writes, so nothing it wrote can look like an edit.
        state = source_state(tree) if timer is None and tree is not None else None
        what = f"{timer:g}s" if timer is not None else f"a change under {tree.root if tree else '?'}"
        try:
            with sigterm_as_interrupt():  # a cancelled CI job or `kill` stops the wait as Ctrl-C does
                console.print(
                    f"loop: iteration {record.number} was {record.status}; waiting for {what} (Ctrl-C stops)",
                    markup=False,
                )
                _wait(options, timer, tree, state, sleep)
        except KeyboardInterrupt as stop:
            how = "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C"
            console.print(f"loop: stopped by {how} while waiting; every record is kept", markup=False)
            return ExitCode.INTERRUPTED


def _wait(
    options: LoopOptions,
    timer: float | None,
    tree: SourceTree | None,
    state: str | None,
    sleep: Callable[[float], None],
) -> None:
    if timer is not None:
        sleep(timer)
        return
    assert tree is not None
    wait_for_change(tree, interval=options.interval, debounce=options.debounce, sleep=sleep, since=state)


def inputs_moved(record: Record, config_path: Path) -> bool:
    """An edit saved while the iteration ran: the inputs now differ from those its build hashed."""
    from loopctl.errors import LoopctlError
    from loopctl.phases.inputs import input_digest

    built = str((record.build or {}).get("input_digest") or "")
    if not built:
        return False
    try:
        return input_digest(load_config(config_path)) != built
    except LoopctlError:
        return False  # a broken config or a missing Dockerfile: the next iteration will say so


def _should_stop(options: LoopOptions, code: ExitCode, record: Record, count: int) -> bool:
    if code in (ExitCode.INTERRUPTED, ExitCode.USAGE):
        return True
    if options.until == "success" and record.status == "success":
        return True
    return options.max_iterations is not None and count >= options.max_iterations
