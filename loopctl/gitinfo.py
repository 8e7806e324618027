"""Which branch and commit an iteration ran from, whether the tree had uncommitted changes, and what changed since."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopctl.git_snapshot import Snapshot, relative, snapshot_tree
from loopctl.outside import one_line

COMMIT_LIMIT = 50
SUBJECT_WIDTH = 400  # characters of a subject git prints
BRANCH_LIMIT = 200  # characters of a branch name (a pull request's branch is anyone's text)

# What CI services name the branch of a detached checkout, the pull request's source branch first.
CI_BRANCH_VARIABLES = (
    "GITHUB_HEAD_REF",  # GitHub Actions, pull requests
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",  # GitLab, merge request pipelines
    "CI_COMMIT_REF_NAME",  # GitLab
    "BUILDKITE_BRANCH",
    "CIRCLE_BRANCH",
    "BITBUCKET_BRANCH",
    "SYSTEM_PULLREQUEST_SOURCEBRANCH",  # Azure Pipelines, pull requests
    "BUILD_SOURCEBRANCHNAME",  # Azure Pipelines
    "TRAVIS_PULL_REQUEST_BRANCH",
    "TRAVIS_BRANCH",
    "DRONE_SOURCE_BRANCH",
    "BRANCH_NAME",  # Jenkins multibranch, Cloud Build
    "GITHUB_REF_NAME",  # GitHub Actions, pushes (a tag's name on tag pushes)
)
FILE_LIMIT = 200


def git(folder: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 10) -> str | None:
    """What `git -C folder args` printed (trailing newlines dropped), or None when git failed, is missing or hung."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            errors="replace",  # a path or subject need not be UTF-8
            timeout=timeout,
            check=False,
            env={**os.environ, **env} if env else None,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip("\n") if done.returncode == 0 else None


def git_info(folder: Path, paths: Sequence[Path] = (), excluded: Sequence[Path] = ()) -> dict[str, Any]:
    """`{"branch", "commit", "dirty", "tree", "large_files"}`; all empty when the folder is not in a git work tree.

    `tree` is a git tree object of `paths` as they are on disk (uncommitted and untracked-not-ignored files
    included), so the next iteration can say exactly what changed even when both ran on one commit. `large_files`
    are the files in it too big to hash: they stand in by size and modification time.
    """
    # One process for both names: a tree without a commit fails the whole call, as it failed `rev-parse HEAD`.
    names = git(folder, "rev-parse", "HEAD", "--abbrev-ref", "HEAD")
    if names is None:
        return {"branch": None, "commit": None, "dirty": False, "tree": None}
    commit, _, branch = names.partition("\n")
    status = git(folder, "status", "--porcelain", "--untracked-files=no")
    snapshot = snapshot_tree(folder, paths, excluded) if paths else Snapshot(None)
    found = {**_branch(branch), "commit": commit, "dirty": bool(status), "tree": snapshot.tree}
    return {**found, "large_files": list(snapshot.large)} if snapshot.large else found


def _branch(name: str) -> dict[str, Any]:
    """The branch checked out; on a detached HEAD (how CI checks out a pull request), the one the CI names."""
    if name != "HEAD":
        return {"branch": one_line(name, BRANCH_LIMIT)}
    variable = next((name for name in CI_BRANCH_VARIABLES if os.environ.get(name, "").strip()), None)
    if variable is None:
        return {"branch": None, "detached": True}
    return {"branch": one_line(os.environ[variable], BRANCH_LIMIT), "branch_from": variable, "detached": True}


def top_level(folder: Path) -> Path | None:
    top = git(folder, "rev-parse", "--show-toplevel")
    return Path(top) if top else None


def pathspecs(top: Path, paths: Sequence[Path], excluded: Sequence[Path] = ()) -> list[str]:
    """`paths` relative to the work tree's top (those outside it dropped), then `excluded` as exclusions."""
    specs = [relative(top, path) for path in paths]
    included = [spec for spec in specs if spec is not None]
    if not included:
        return []
    exclusions = [f":(exclude){spec}" for path in excluded if (spec := relative(top, path)) not in (None, ".")]
    return included + exclusions


def diff_files(top: Path, base: str, target: str, specs: Sequence[str]) -> list[dict[str, Any]]:
    """`[{"path", "added", "removed"}]` between two commits or trees, limited to `specs` (None counts: binary)."""
    output = git(top, "diff", "--numstat", "-z", "--no-renames", base, target, "--", *specs)
    files: list[dict[str, Any]] = []
    for item in (output or "").split("\0"):
        added, _, rest = item.partition("\t")
        removed, _, path = rest.partition("\t")
        if path:
            files.append({"path": path, "added": _count(added), "removed": _count(removed)})
    return files[:FILE_LIMIT]


def commit_subjects(top: Path, before: str, after: str) -> list[str]:
    """The subjects of the commits after `before` up to `after`, newest first, each cut by git to SUBJECT_WIDTH."""
    # git cuts the subject, so a megabyte-long one never reaches memory whole; the record's boundary clips it again.
    subject = f"--format=%<({SUBJECT_WIDTH},trunc)%s"
    output = git(top, "log", f"--max-count={COMMIT_LIMIT}", subject, f"{before}..{after}")
    return [line.rstrip() for line in (output or "").splitlines() if line.strip()]


def commit_counts(top: Path, before: str, after: str) -> tuple[int, int] | None:
    """How many commits only `before` has (went back), and only `after` has (new); None when git cannot tell."""
    output = git(top, "rev-list", "--left-right", "--count", f"{before}...{after}")
    left, _, right = (output or "").partition("\t")
    return (int(left), int(right)) if left.isdigit() and right.isdigit() else None


def exists(top: Path, name: str) -> bool:
    return git(top, "cat-file", "-e", name) is not None


def file_at(top: Path, revision: str, spec: str) -> str | None:
    return git(top, "show", f"{revision}:{spec}")


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None
