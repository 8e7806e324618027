"""Git in a test's repo, as an engineer with an identity of their own: the commits never depend on the machine's."""

from __future__ import annotations

import subprocess
from pathlib import Path

IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.invalid")


def git(repo: Path, *args: str) -> str:
    """`git ARGS` in `repo`, checked; its output without the trailing newline."""
    done = subprocess.run(["git", "-C", str(repo), *IDENTITY, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()
