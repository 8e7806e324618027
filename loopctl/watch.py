"""What `loopctl loop` waits for: a saved change to what the build's input digest covers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loopctl.config import Config
from loopctl.errors import LoopctlError
from loopctl.phases.inputs import InputRules, input_digest, input_rules

# How often the wait wakes with nothing seen, to take its first look and to notice a stop (Ctrl-C is immediate).
_TICK_MS = 250


@dataclass(frozen=True)
class SourceTree:
    """The build context as the input digest sees it: its changes, and only those, start a new iteration.

    Never loopctl's own files (the iterations folder with its records, logs, lock and caches) and never what
    `.dockerignore` keeps out of the build; a file git ignores but the engine receives (`.env`) is watched.
    """

    config: Config
    rules: InputRules

    @property
    def root(self) -> Path:
        return self.rules.context

    def counts(self, path: str) -> bool:
        """Whether an absolute path reported by the watcher is an input of the image."""
        relative = os.path.relpath(path, self.rules.context)
        if relative == os.curdir or relative == os.pardir or relative.startswith(os.pardir + os.sep):
            return False
        return self.rules.counts(relative)


@dataclass(frozen=True)
class Wake:
    """Why the wait ended: the inputs' new digest, and the changed inputs seen (relative to the context)."""

    state: str
    paths: tuple[str, ...]


def source_tree(config: Config) -> SourceTree | None:
    """The build context minus loopctl's own files and what `.dockerignore` excludes; None when nothing is built."""
    if config.build is None:
        return None
    return SourceTree(config, input_rules(config))


def source_state(tree: SourceTree) -> str:
    """The input digest (what a build would be keyed on), or why none can be taken: either way, a fingerprint."""
    try:
        return input_digest(tree.config)
    except LoopctlError as error:
        return f"unbuildable: {error}"


def wait_for_change(
    tree: SourceTree,
    *,
    debounce: float,
    since: str | None = None,
    on_watching: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> Wake | None:
    """Wait on file-system events until the input digest differs from `since`; None once `stop` is set.

    The events come from the OS (inotify, FSEvents, ReadDirectoryChangesW; polling only where none works), grouped
    until the tree holds still for `debounce` seconds, so an editor's save (write, rename, chmod) is one change.
    Edits made before the watch began are caught by a first look right after it begins.
    """
    from watchfiles import watch  # a compiled extension: only `loop` pays for loading it

    baseline = since or source_state(tree)
    looked = False
    seen: set[str] = set()
    events = watch(
        tree.root,
        watch_filter=lambda _change, path: tree.counts(path),
        debounce=1_600,  # at most this long grouping one burst (a checkout), then the digest decides
        step=max(1, round(debounce * 1000)),
        stop_event=stop,
        rust_timeout=_TICK_MS,
        yield_on_timeout=True,
    )
    for changes in events:
        seen.update(os.path.relpath(path, tree.root) for _, path in changes)
        if looked and not changes:
            continue
        current = source_state(tree)
        if current != baseline:
            return Wake(current, tuple(sorted(seen)))
        seen.clear()  # a save that changed nothing (same bytes, a touch): not a change
        if not looked and on_watching is not None:
            on_watching()
        looked = True
    return None
