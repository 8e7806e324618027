"""`loopctl loop`: iterate, wait for the source to change (or a timer), iterate again, until a stop condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from loopctl.config import Config, load_config
from loopctl.exitcodes import ExitCode
from loopctl.iterate import IterateOptions, iterate_once
from loopctl.records.record import Record
from loopctl.runner import Terminated, sigterm_as_interrupt
from loopctl.terminal.console import stderr_console
from loopctl.watch import SourceTree, Wake, source_state, source_tree, wait_for_change


@dataclass(frozen=True)
class LoopOptions:
    iterate: IterateOptions
    max_iterations: int | None = None
    until: str = "success"  # "success" | "never"
    interval: float = 2.0  # the timer when nothing is built (no files to watch)
    debounce: float = 0.05  # an editor's save lands within milliseconds; a human's next save comes much later
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
        if tree is not None:
            tree = source_tree(config)  # `.dockerignore` as it is now: an edit to it changes what counts
        # What the iteration built from; without a build, taken now, after the iteration's own writes.
        state = _built_state(record, tree) if timer is None and tree is not None else None
        what = f"{timer:g}s" if timer is not None else f"a change under {tree.root if tree else '?'}"
        line = f"loop: iteration {record.number} was {record.status}; waiting for {what} (Ctrl-C stops)"
        try:
            with sigterm_as_interrupt():  # a cancelled CI job or `kill` stops the wait as Ctrl-C does
                wake = _wait(options, timer, tree, state, sleep, partial(console.print, line, markup=False))
        except KeyboardInterrupt as stop:
            how = "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C"
            console.print(f"loop: stopped by {how} while waiting; every record is kept", markup=False)
            return ExitCode.INTERRUPTED
        if wake is not None:
            console.print(f"loop: {_changed(wake)}; iterating", markup=False)


def _wait(
    options: LoopOptions,
    timer: float | None,
    tree: SourceTree | None,
    state: str | None,
    sleep: Callable[[float], None],
    waiting: Callable[[], None],
) -> Wake | None:
    if timer is not None:
        waiting()
        sleep(timer)
        return None
    assert tree is not None
    # Said once the watch is set up: an edit saved after the line is seen by the watcher itself.
    return wait_for_change(tree, debounce=options.debounce, since=state, on_watching=waiting)


def _built_state(record: Record, tree: SourceTree) -> str:
    """What the iteration built from, as `source_state` writes it: each context's digest from the record; taken
    now (hashing the contexts) only when the iteration did not build one of them (skipped, or not selected)."""
    built = _built_digests(record)
    digests = [built.get(context.service) for context in tree.contexts]
    return " ".join(digest for digest in digests if digest) if all(digests) else source_state(tree)


def _changed(wake: Wake) -> str:
    from loopctl.outside_text import one_line  # file names are outside text: no terminal control sequences

    if not wake.paths:
        return "the build's inputs changed"
    shown = ", ".join(one_line(path, 120) for path in wake.paths[:3])
    more = f" and {len(wake.paths) - 3} more" if len(wake.paths) > 3 else ""
    return f"{shown}{more} changed"


def inputs_moved(record: Record, config_path: Path) -> bool:
    """An edit saved while the iteration ran: the inputs of a service it built now differ from those it hashed."""
    from loopctl.config.services import service_views
    from loopctl.errors import LoopctlError

    built = _built_digests(record)
    if not built:
        return False
    try:
        views = service_views(load_config(config_path))
    except LoopctlError:
        return False  # a broken config: the next iteration will say so
    return any(
        _digest_now(view.config) not in (None, built[name])
        for view in views
        if (name := view.name if view.several else None) in built
    )


def _built_digests(record: Record) -> dict[str | None, str]:
    """The input digest of each service the iteration built, by name (None: the one service of a single-service
    record, whatever its project is called)."""
    if record.services is None:
        return {None: record.build.input_digest} if record.build and record.build.input_digest else {}
    return {
        name: part.build.input_digest
        for name, part in record.services.items()
        if part.build and part.build.input_digest
    }


def _digest_now(config: Config) -> str | None:
    from loopctl.errors import LoopctlError
    from loopctl.phases.inputs import input_digest

    if config.build is None:
        return None
    try:
        return input_digest(config)
    except LoopctlError:
        return None  # a missing Dockerfile: the next iteration will say so


def _should_stop(options: LoopOptions, code: ExitCode, record: Record, count: int) -> bool:
    if code in (ExitCode.INTERRUPTED, ExitCode.USAGE):
        return True
    if options.until == "success" and record.status == "success":
        return True
    return options.max_iterations is not None and count >= options.max_iterations
