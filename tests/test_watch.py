"""What `loopctl loop` waits for: changes to tracked and untracked files and to git HEAD, debounced."""

from __future__ import annotations

import subprocess
from pathlib import Path

from loopctl.watch import source_state, wait_for_change


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "service").mkdir(parents=True)
    (repo / "service" / "app.py").write_text("print('v1')\n")
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "add", ".")
    git(repo, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "one")
    return repo / "service"


def test_edits_new_files_and_commits_change_the_state_but_ignored_files_do_not(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    before = source_state(root)
    (root / "debug.log").write_text("noise\n")
    assert source_state(root) == before
    (root / "new.py").write_text("x = 1\n")
    with_new = source_state(root)
    assert with_new != before
    (root / "app.py").write_text("print('v2')\n")
    edited = source_state(root)
    assert edited != with_new
    git(root.parent, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qam", "two")
    assert source_state(root) != edited


def test_wait_returns_once_the_tree_holds_still(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    edits = iter(["print('a')\n", "print('b')\n", None, None, None])
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        text = next(edits, None)
        if text is not None:
            (root / "app.py").write_text(text)

    wait_for_change(root, interval=0.5, debounce=0.2, sleep=sleep)
    # One poll saw the first edit; the second edit during the debounce needed one more quiet period.
    assert slept == [0.5, 0.2, 0.2]


def test_outside_git_the_folder_is_walked(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1")
    before = source_state(tmp_path)
    (tmp_path / "b.txt").write_text("2")
    assert source_state(tmp_path) != before
