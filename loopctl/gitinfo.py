"""Which branch and commit an iteration ran from, and whether the tree had uncommitted changes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(folder: Path) -> dict[str, Any]:
    """`{"branch", "commit", "dirty"}`; all empty when the folder is not in a git work tree."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return {"branch": None, "commit": None, "dirty": False}
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return {"branch": branch, "commit": commit, "dirty": bool(status)}
