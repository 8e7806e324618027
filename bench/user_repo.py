"""`loopctl init --target docker` in a user's repo (build context = the repo's root, records inside it): an
unchanged `loopctl iterate` against one after a one-file change."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from sandbox import GIT, SERVICE, TOUCHED, remove_from_engine
from timing import LOOPCTL, checked, figure, median, require_venv, say, timed, verdict

from tests.support.realparts import BASE_IMAGE, base_image_missing_reason

ROUNDS = 3
GOAL_S = 2.0


def make_repo(root: Path) -> Path:
    """The sample service at the root of a git repo of its own, configured by `loopctl init --target docker`."""
    repo = root / f"bench-user-repo-{secrets.token_hex(3)}"
    shutil.copytree(SERVICE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the service"]):
        checked([*GIT, "-C", repo, *argv])
    checked([LOOPCTL, "init", "--target", "docker"], cwd=repo)
    config = yaml.safe_load((repo / "config.yaml").read_text())
    config["build"]["args"] = {"BASE_IMAGE": BASE_IMAGE}  # no image registry here to pull python:3.11-slim from
    (repo / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for argv in (["add", "-A"], ["commit", "-q", "-m", "loopctl config"]):
        checked([*GIT, "-C", repo, *argv])
    return repo


def iterate(repo: Path) -> tuple[float, dict[str, Any]]:
    elapsed, done = checked_any([LOOPCTL, "iterate", "--ci", "--json"], cwd=repo)
    record: dict[str, Any] = json.loads(done)
    return elapsed, record


def checked_any(argv: list[Any], *, cwd: Path) -> tuple[float, str]:
    """The probe fails (the sample wants a token the init config does not send): only a crash stops the bench."""
    elapsed, done = timed(argv, cwd=cwd)
    if done.returncode not in (0, 1):
        say(f"FAILED (exit {done.returncode}):\n{done.stderr[-2000:]}")
        raise SystemExit(1)
    return elapsed, done.stdout


def describe(record: dict[str, Any]) -> str:
    build, deploy = record.get("build") or {}, record.get("deploy") or {}
    phases = ", ".join(f"{phase['name']} {phase['duration_s']:.2f}s" for phase in record["phases"])
    return f"build cached={build.get('cached')}, deploy reused={deploy.get('reused')}; {phases}"


def main() -> None:
    require_venv()
    if reason := base_image_missing_reason():
        say(reason)
        raise SystemExit(2)
    root = Path(tempfile.mkdtemp(prefix="loopctl-bench-user-repo-"))
    changed: list[float] = []
    unchanged: list[float] = []
    skipped = True
    repo = make_repo(root)
    try:
        elapsed, record = iterate(repo)
        say(f"warm-up (first build and container; not counted): {elapsed:.2f}s; {describe(record)}")
        for number in range(1, ROUNDS + 1):
            with (repo / TOUCHED).open("a", encoding="utf-8") as source:
                source.write(f"# bench edit {number}\n")
            elapsed, record = iterate(repo)
            changed.append(elapsed)
            say(f"round {number} changed:   {elapsed:.2f}s; {describe(record)}")
            elapsed, record = iterate(repo)
            unchanged.append(elapsed)
            skipped &= (record.get("build") or {}).get("cached") == "local" and record["deploy"].get("reused") is True
            say(f"round {number} unchanged: {elapsed:.2f}s; {describe(record)}")
    finally:
        remove_from_engine([repo.name], [repo.name])  # init names the container and the image after the repo
        shutil.rmtree(root, ignore_errors=True)
    took = median(unchanged)
    figure(
        f"user_repo: unchanged iterate {took:.2f}s vs {median(changed):.2f}s after a one-file change, records inside"
        f" the build context (median of {ROUNDS}; goal <= {GOAL_S:.1f}s and the skip path taken)"
        f" {verdict(took <= GOAL_S and skipped)}"
    )


if __name__ == "__main__":
    main()
