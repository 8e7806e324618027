"""What `loopctl loop` waits for: a change to the build's source (git HEAD or files), or a timer."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loopctl.config import Config
from loopctl.gitinfo import git
from loopctl.phases.inputs import context_files, own_paths, without_own_files

_HASH_LIMIT = 4 << 20
_DOCKERIGNORE = ".dockerignore"


@dataclass(frozen=True)
class SourceTree:
    """The files whose changes start a new iteration.

    Never loopctl's own files (`own`: the iterations folder with its records, logs, lock and caches), never what
    git ignores, and, when `dockerfile` is set, never what `.dockerignore` keeps out of the build: none of those
    change the image, and watching them would make every iteration start the next one.
    """

    root: Path
    own: tuple[str, ...] = ()
    dockerfile: str | None = None

    def files(self) -> list[str]:
        listed = git(self.root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".", timeout=30)
        names = sorted(filter(None, listed.split("\0"))) if listed is not None else _walk(self.root)
        names = without_own_files(names, self.own)
        if self.dockerfile is not None and (self.root / _DOCKERIGNORE).is_file():
            # .dockerignore itself decides what is sent: an edit to it is a change even when it excludes itself.
            sent = {*context_files(self.root, self.dockerfile), _DOCKERIGNORE}
            names = [name for name in names if name in sent]
        return names


def source_tree(config: Config) -> SourceTree | None:
    """The build context minus loopctl's own files and what `.dockerignore` excludes; None when nothing is built."""
    if config.build is None:
        return None
    root = config.path(config.build.context)
    return SourceTree(root, tuple(own_paths(config, root)), config.build.dockerfile)


def source_state(tree: SourceTree) -> str:
    """A fingerprint of git HEAD plus the content of every watched file."""
    digest = hashlib.sha256()
    head = git(tree.root, "rev-parse", "HEAD", timeout=30)
    digest.update((head or "no-git").encode() + b"\0")
    for name in tree.files():
        path = tree.root / name
        try:
            info = path.stat()
        except OSError:
            digest.update(f"{name}\0gone\0".encode())
            continue
        digest.update(f"{name}\0{info.st_size}\0".encode())
        # Content, not mtime: two saves within one clock tick keep the same mtime.
        digest.update(_content_hash(path, info.st_size, info.st_mtime_ns))
    return digest.hexdigest()


def wait_for_change(
    tree: SourceTree,
    *,
    interval: float,
    debounce: float,
    sleep: Callable[[float], None] = time.sleep,
    since: str | None = None,
) -> str:
    """Poll every `interval` seconds until the state differs, then until it holds still for `debounce` seconds."""
    baseline = since or source_state(tree)
    while True:
        sleep(interval)
        current = source_state(tree)
        if current == baseline:
            continue
        while True:  # settle: an editor saving several files, a git checkout in progress
            sleep(debounce)
            settled = source_state(tree)
            if settled == current:
                return settled
            current = settled


def _content_hash(path: Path, size: int, mtime_ns: int) -> bytes:
    if size > _HASH_LIMIT:
        return f"{mtime_ns}".encode()
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return b"unreadable"


def _walk(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
