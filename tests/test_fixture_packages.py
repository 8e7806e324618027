"""Node packages reach the tests one way: each fixture's package.json is pinned by its package-lock.json, which
scripts/npm-packages.sh installs with `npm ci` into the git-ignored .cache/; no package is committed itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tracked() -> list[str]:
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "tests/fixtures"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.splitlines()


def test_no_node_package_is_committed() -> None:
    assert [path for path in tracked() if "node_modules/" in path] == []


def test_every_package_json_is_pinned_by_a_lock_file_npm_ci_accepts() -> None:
    manifests = [REPO / path for path in tracked() if path.endswith("/package.json")]
    assert len(manifests) >= 4  # node_ws, mcp_inspector, the story's node_ws and ts_game
    for manifest in manifests:
        lock = manifest.with_name("package-lock.json")
        assert lock.is_file(), f"{manifest.relative_to(REPO)} has no package-lock.json beside it"
        declared, locked = json.loads(manifest.read_text()), json.loads(lock.read_text())
        root = locked["packages"][""]
        in_step = all(root.get(kind) == declared.get(kind) for kind in ("dependencies", "devDependencies"))
        assert locked["lockfileVersion"] >= 2 and in_step, (
            f"{lock.relative_to(REPO)} is out of step with its package.json: run `npm install --package-lock-only`"
        )
        packages = {name: entry for name, entry in locked["packages"].items() if name}
        assert packages, lock
        for name, entry in packages.items():
            # A version and a hash pin it; no `resolved` URL, so npm fetches from whatever registry is configured.
            assert entry.get("version") and entry.get("integrity", "").startswith("sha512-"), (lock, name)
            assert "resolved" not in entry, (lock, name)
