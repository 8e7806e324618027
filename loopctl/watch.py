"""What `loopctl loop` waits for: a saved change to what the build's input digest covers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopctl.config import Config
from loopctl.errors import LoopctlError
from loopctl.phases.inputs import InputRules, input_digest, input_rules

# How often the wait wakes with nothing seen, to take its first look and to notice a stop (Ctrl-C is immediate).
_TICK_MS = 250


@dataclass(frozen=True)
class WatchedContext:
    """One build context as the input digest sees it (one service's: `service` names it among several)."""

    config: Config
    rules: InputRules
    service: str | None = None

    def counts(self, path: str) -> bool:
        """Whether an absolute path reported by the watcher is an input of this image."""
        relative = os.path.relpath(path, self.rules.context)
        if relative == os.curdir:
            return True  # the context itself, made or removed
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            return False
        return self.rules.counts(relative)


@dataclass(frozen=True)
class SourceTree:
    """The build contexts (one per service that builds) as the input digest sees them: their changes, and only
    those, start a new iteration.

    Never loopctl's own files (the iterations folder with its records, logs, lock and caches) and never what
    `.dockerignore` keeps out of the build; a file git ignores but the engine receives (`.env`) is watched.
    """

    contexts: tuple[WatchedContext, ...]

    @property
    def root(self) -> Path:
        """The context, or the folder that holds every context (paths in a Wake are relative to it)."""
        roots = [context.rules.context for context in self.contexts]
        return roots[0] if len(roots) == 1 else Path(os.path.commonpath(roots))

    def counts(self, path: str) -> bool:
        """Whether an absolute path reported by the watcher is an input of an image."""
        return any(context.counts(path) for context in self.contexts)


@dataclass(frozen=True)
class Wake:
    """Why the wait ended: the inputs' new digest, and the changed inputs seen (relative to the context)."""

    state: str
    paths: tuple[str, ...]


def source_tree(config: Config) -> SourceTree | None:
    """Each build context minus loopctl's own files and what `.dockerignore` excludes; None when nothing is built."""
    from loopctl.config.services import service_views

    built = [view for view in service_views(config) if view.config.build is not None]
    if not built:
        return None
    return SourceTree(
        tuple(
            WatchedContext(view.config, input_rules(view.config), view.name if view.several else None) for view in built
        )
    )


def source_state(tree: SourceTree) -> str:
    """The input digest (what a build would be keyed on), or why none can be taken: either way, a fingerprint;
    several contexts' digests joined, in deploy order."""
    return " ".join(_state(context.config) for context in tree.contexts)


def _state(config: Config) -> str:
    try:
        return input_digest(config)
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
    baseline = since or source_state(tree)
    looked = False
    # Watched from a folder above while the context does not exist: its events may come before the watch reaches
    # the new folders, so each tick looks again (a stat of a missing folder: cheap).
    missing = not all(context.rules.context.is_dir() for context in tree.contexts)
    seen: set[str] = set()
    events = _changes(tree, debounce=debounce, stop=stop)
    for changes in events:
        seen.update(os.path.relpath(path, tree.root) for _, path in changes)
        if looked and not changes and not missing:
            continue
        current = source_state(tree)
        if current != baseline:
            return Wake(current, tuple(sorted(seen)))
        seen.clear()  # a save that changed nothing (same bytes, a touch): not a change
        if not looked and on_watching is not None:
            on_watching()
        looked = True
    return None


def _changes(tree: SourceTree, *, debounce: float, stop: threading.Event | None) -> Iterator[set[tuple[Any, str]]]:
    """Batches of changed inputs from the OS's file events, or from polling where the OS cannot watch this tree.

    An empty batch every `_TICK_MS` when nothing changed; the first batch comes once the watch is set up.
    """
    from watchfiles import watch  # a compiled extension: only `loop` pays for loading it

    settings: dict[str, Any] = {
        "watch_filter": lambda _change, path: tree.counts(path),
        "debounce": 1_600,  # at most this long grouping one burst (a checkout), then the digest decides
        "step": max(1, round(debounce * 1000)),
        "stop_event": stop,
        "rust_timeout": _TICK_MS,
        "yield_on_timeout": True,
        "ignore_permission_denied": True,  # a folder no one can read cannot be sent to the engine either
    }
    folders = list(dict.fromkeys(_watchable(context.rules.context) for context in tree.contexts))
    try:
        events = watch(*folders, **settings)
        first = next(events, None)
    except OSError:  # inotify's watch limit reached, or a file system without events: poll it instead
        events = watch(*folders, force_polling=True, **settings)
        first = next(events, None)
    if first is None:
        return
    yield first
    yield from events


def _watchable(root: Path) -> Path:
    """The context, or while it does not exist the nearest folder above it (its creation is then a change)."""
    folder = root
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder
