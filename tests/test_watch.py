"""What `loopctl loop` waits for: changes to tracked and untracked files and to git HEAD, debounced."""

from __future__ import annotations

import subprocess
from pathlib import Path

from loopctl.config import Config
from loopctl.watch import SourceTree, source_state, source_tree, wait_for_change


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
    tree = SourceTree(root)
    before = source_state(tree)
    (root / "debug.log").write_text("noise\n")
    assert source_state(tree) == before
    (root / "new.py").write_text("x = 1\n")
    with_new = source_state(tree)
    assert with_new != before
    (root / "app.py").write_text("print('v2')\n")
    edited = source_state(tree)
    assert edited != with_new
    git(root.parent, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qam", "two")
    assert source_state(tree) != edited


def test_wait_returns_once_the_tree_holds_still(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    edits = iter(["print('a')\n", "print('b')\n", None, None, None])
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        text = next(edits, None)
        if text is not None:
            (root / "app.py").write_text(text)

    wait_for_change(SourceTree(root), interval=0.5, debounce=0.2, sleep=sleep)
    # One poll saw the first edit; the second edit during the debounce needed one more quiet period.
    assert slept == [0.5, 0.2, 0.2]


def test_outside_git_the_folder_is_walked(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1")
    before = source_state(SourceTree(tmp_path))
    (tmp_path / "b.txt").write_text("2")
    assert source_state(SourceTree(tmp_path)) != before


def user_repo(tmp_path: Path, dockerignore: str | None) -> tuple[Path, Config]:
    """A user's own repo: the build context is its root and the iterations folder sits inside it."""
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "main.py").write_text("print('v1')\n")
    (repo / "Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    if dockerignore is not None:
        (repo / ".dockerignore").write_text(dockerignore)
    git(repo, "init", "-q")
    config = Config.model_validate(
        {"project": "svc", "build": {"context": ".", "image": "127.0.0.1:5000/svc"}, "base_dir": repo}
    )
    return repo, config


def test_records_reports_and_caches_in_the_context_never_change_the_state(tmp_path: Path) -> None:
    repo, config = user_repo(tmp_path, dockerignore=None)
    tree = source_tree(config)
    assert tree is not None and tree.own == ("iterations",)
    before = source_state(tree)
    (repo / "iterations").mkdir()
    for name in ("0001.json", "0001.md", "0001.build.log", ".history-cache.json", ".lock", ".last"):
        (repo / "iterations" / name).write_text("written by loopctl\n")
    assert source_state(tree) == before
    (repo / "app" / "main.py").write_text("print('v2')\n")
    assert source_state(tree) != before


def test_what_dockerignore_excludes_is_not_watched_but_dockerignore_itself_is(tmp_path: Path) -> None:
    repo, config = user_repo(tmp_path, dockerignore="docs\n.dockerignore\n")
    tree = source_tree(config)
    assert tree is not None
    before = source_state(tree)
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("not in the image\n")
    assert source_state(tree) == before
    (repo / ".dockerignore").write_text("docs\n.dockerignore\napp/cache\n")
    assert source_state(tree) != before


def test_nothing_built_means_nothing_to_watch(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"project": "svc", "deploy": {"target": "url", "url": "http://127.0.0.1:1"}, "base_dir": tmp_path}
    )
    assert source_tree(config) is None


def test_an_edit_to_a_file_whose_name_starts_with_a_space_is_a_change(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (root / " lead.py").write_text("x = 1\n")  # listed first by git: nothing may trim its name
    git(root.parent, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "add", ".")
    git(root.parent, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "lead")
    tree = SourceTree(root)
    assert tree.files() == [" lead.py", "app.py"]
    before = source_state(tree)
    (root / " lead.py").write_text("x = 2\n")
    assert source_state(tree) != before
