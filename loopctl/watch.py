"""What `loopctl loop` waits for: a change to the build's source (git HEAD or files), or a timer."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from loopctl.config import Config

_HASH_LIMIT = 4 << 20


def source_root(config: Config) -> Path | None:
    """The folder whose changes start a new iteration: the build context; None when nothing is built."""
    return config.path(config.build.context) if config.build is not None else None


def source_state(root: Path) -> str:
    """A fingerprint of git HEAD plus every tracked or untracked-not-ignored file under `root`."""
    digest = hashlib.sha256()
    head = _git(root, "rev-parse", "HEAD")
    digest.update((head or "no-git").encode() + b"\0")
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".")
    names = sorted(filter(None, listed.split("\0"))) if listed is not None else _walk(root)
    for name in names:
        try:
            info = (root / name).stat()
        except OSError:
            digest.update(f"{name}\0gone\0".encode())
            continue
        digest.update(f"{name}\0{info.st_size}\0".encode())
        # Content, not mtime: two saves within one clock tick keep the same mtime.
        digest.update(_content_hash(root / name, info.st_size, info.st_mtime_ns))
    return digest.hexdigest()


def wait_for_change(
    root: Path,
    *,
    interval: float,
    debounce: float,
    sleep: Callable[[float], None] = time.sleep,
    since: str | None = None,
) -> str:
    """Poll every `interval` seconds until the state differs, then until it holds still for `debounce` seconds."""
    baseline = since or source_state(root)
    while True:
        sleep(interval)
        current = source_state(root)
        if current == baseline:
            continue
        while True:  # settle: an editor saving several files, a git checkout in progress
            sleep(debounce)
            settled = source_state(root)
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


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _walk(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
