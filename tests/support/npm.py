"""Pinned npm packages for the tests: a fixture folder's package-lock.json, installed once by
scripts/npm-packages.sh (`npm ci` into the repo's git-ignored `.cache/npm/`), which `make up` runs for every set."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def node_modules(packages: Path) -> Path:
    """The node_modules folder `npm ci` made from `packages`' lock file: installed the first time, then reused."""
    done = subprocess.run(
        [str(REPO / "scripts" / "npm-packages.sh"), str(packages)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"npm could not install {packages.relative_to(REPO)}: {done.stderr[-2000:]}"
    return Path(done.stdout.strip())
