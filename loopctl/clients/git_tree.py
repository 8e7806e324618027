"""The build context and config as they are on disk, as a git tree: big files stand in by size and time, uncopied."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

# The bounds docs/reliability.md lists: change them there too.
FILE_LIMIT = 8 * 1024 * 1024  # bytes: a bigger file is compared by size and modification time, never hashed
TOTAL_LIMIT = 64 * 1024 * 1024  # bytes of new or changed content hashed per snapshot; past it, files stand in too
NAMED_LIMIT = 20  # big files named in the record
GIT_TIMEOUT = 30.0  # seconds for each git process of the snapshot


@dataclass(frozen=True)
class Snapshot:
    """A tree object of the watched paths, and the files over FILE_LIMIT it holds only as a size and a time."""

    tree: str | None
    large: tuple[str, ...] = ()


def snapshot_tree(folder: Path, paths: Sequence[Path], excluded: Sequence[Path] = ()) -> Snapshot:
    """Write the on-disk state of `paths`, less `excluded`, as a tree object, without touching the user's index.

    Ignored files stay out (as `git add` leaves them) and so do `excluded` folders, whether ignored or not. New
    objects go to a private object folder that reaches the repository's own as an alternate, and move into it only
    when the tree is complete: a git process killed on a timeout leaves nothing behind in `.git`.
    """
    # The work tree's top, the user's index and object folder in one process (relative to `folder`).
    found = _run(folder, "rev-parse", "--show-toplevel", "--git-path", "index", "--git-path", "objects")
    top_name, real_index, objects = [*os.fsdecode(found or b"").strip("\n").split("\n"), "", "", ""][:3]
    top = Path(top_name) if top_name else None
    specs = [spec for path in paths if (spec := relative(top, path)) is not None] if top else []
    if top is None or not specs or not objects:
        return Snapshot(None)
    skipped = [spec for path in excluded if (spec := relative(top, path)) not in (None, ".")]
    real_objects = (folder / objects).resolve()
    with tempfile.TemporaryDirectory(prefix="loopctl-snapshot-") as scratch:
        env = _private(Path(scratch), folder / real_index, real_objects)
        snapshot = _write_tree(top, specs, [spec for spec in skipped if spec], env, Path(scratch))
        if snapshot.tree is not None:
            _move_objects(Path(env["GIT_OBJECT_DIRECTORY"]), real_objects)
        return snapshot


def relative(top: Path, path: Path) -> str | None:
    """`path` relative to the work tree's top, or None when it lies outside."""
    try:
        return str(path.resolve().relative_to(top.resolve()))
    except ValueError:
        return None


def _private(scratch: Path, real_index: Path, real_objects: Path) -> dict[str, str]:
    index, objects = scratch / "index", scratch / "objects"
    objects.mkdir()
    if real_index.is_file():
        shutil.copyfile(real_index, index)  # keeps the stat cache: unchanged tracked files are not re-hashed
    alternates = [str(real_objects), *filter(None, os.environ.get("GIT_ALTERNATE_OBJECT_DIRECTORIES", "").split(":"))]
    return {
        "GIT_INDEX_FILE": str(index),
        "GIT_OBJECT_DIRECTORY": str(objects),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join(alternates),
    }


def _write_tree(
    top: Path, specs: Sequence[str], excluded: Sequence[str], env: dict[str, str], scratch: Path
) -> Snapshot:
    listed = _run(top, "ls-files", "-z", "--others", "--modified", "--exclude-standard", "--", *specs, env=env)
    if listed is None:
        return Snapshot(None)
    paths = sorted({os.fsdecode(item) for item in listed.split(b"\0") if item and not item.endswith(b"/")})
    paths = [path for path in paths if not _under(path, excluded)]
    small, large = _by_size(top, paths)
    update = ("update-index", "--add", "--remove", "--replace", "-z", "--stdin")  # --replace: a file became a folder
    if small and _run(top, *update, env=env, feed=small) is None:
        return Snapshot(None)
    if large and not _stand_ins(top, large, env, scratch):
        return Snapshot(None)
    tree = _run(top, "write-tree", env=env)
    return Snapshot(os.fsdecode(tree).strip() if tree else None, tuple(path for path, _ in large[:NAMED_LIMIT]))


def _under(path: str, folders: Sequence[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def _by_size(top: Path, paths: Sequence[str]) -> tuple[list[str], list[tuple[str, os.stat_result]]]:
    """Paths git may hash (small, gone, links, folders), and regular files it may not, with their stat: each over
    FILE_LIMIT, and those past TOTAL_LIMIT of new content (a folder of many mid-sized files is no cheaper)."""
    small: list[str] = []
    large: list[tuple[str, os.stat_result]] = []
    budget = TOTAL_LIMIT
    for path in paths:
        try:
            stat = (top / path).lstat()
        except OSError:
            small.append(path)  # gone: update-index removes it
            continue
        if not S_ISREG(stat.st_mode):
            small.append(path)
        elif stat.st_size > min(FILE_LIMIT, budget):
            large.append((path, stat))
        else:
            budget -= stat.st_size
            small.append(path)
    return small, large


def _stand_ins(top: Path, large: Sequence[tuple[str, os.stat_result]], env: dict[str, str], scratch: Path) -> bool:
    """Index each big file as a small binary blob naming its size and modification time: an edit still shows."""
    files = []
    for number, (_, stat) in enumerate(large):
        stand_in = scratch / f"stand-in-{number}"
        stand_in.write_bytes(f"loopctl: over {FILE_LIMIT} bytes\0{stat.st_size} {stat.st_mtime_ns}\n".encode())
        files.append(str(stand_in))
    hashed = _run(top, "hash-object", "-w", "--stdin-paths", env=env, feed=files, separator="\n")
    names = os.fsdecode(hashed or b"").split()
    if len(names) != len(large):
        return False
    entries = [f"{_mode(stat)} {name}\t{path}" for (path, stat), name in zip(large, names, strict=True)]
    return _run(top, "update-index", "-z", "--index-info", env=env, feed=entries) is not None


def _mode(stat: os.stat_result) -> str:
    return "100755" if stat.st_mode & 0o100 else "100644"


def _move_objects(source: Path, target: Path) -> None:
    """The new loose objects and packs into the repository's object folder (packs before their indexes)."""
    found = sorted(path for path in source.rglob("*") if path.is_file() and "info" not in path.parts)
    for path in sorted(found, key=lambda path: path.suffix == ".idx"):
        destination = target / path.relative_to(source)
        if destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, destination)


def _run(
    top: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    feed: Sequence[str] = (),
    separator: str = "\0",
) -> bytes | None:
    """What git printed, as bytes (paths need not be UTF-8), or None when it failed, is missing or outran its time."""
    stdin = b"".join(os.fsencode(item) + separator.encode() for item in feed)
    try:
        done = subprocess.run(
            ["git", "-C", str(top), *args],
            input=stdin,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env={**os.environ, **env} if env else None,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
