"""What `loopctl loop` waits for: file-system events on what the input digest covers, a save burst as one change."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from loopctl.config import Config
from loopctl.phases.inputs import input_digest, input_rules
from loopctl.watch import SourceTree, Wake, source_state, source_tree, wait_for_change

# Bounds, never expectations: a wait that has not woken by then has failed.
WAKE_TIMEOUT = 30.0
DEBOUNCE = 0.05  # `loop`'s default


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def init_layout(tmp_path: Path, *, context: str = ".") -> tuple[Path, Config]:
    """A user's repo as `loopctl init` leaves it: records git-ignored and docker-ignored, `.env` git-ignored."""
    repo = tmp_path / "repo"
    root = repo / context
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text("print('v1')\n")
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    (root / ".dockerignore").write_text("iterations\n.git\ndocs\n")
    (repo / ".gitignore").write_text("iterations\n.env\n")
    git(repo, "init", "-q")
    config = Config.model_validate(
        {
            "project": "svc",
            "iterations_dir": f"{context}/iterations",
            "build": {"context": context, "image": "127.0.0.1:5000/svc"},
            "base_dir": repo,
        }
    )
    return repo, config


@contextmanager
def watching(tree: SourceTree, since: str | None = None) -> Iterator[Future[Wake | None]]:
    """The wait running in a thread, yielded once its watch is set up; stopped on the way out."""
    ready, stop = threading.Event(), threading.Event()
    with ThreadPoolExecutor(1) as pool:
        wake = pool.submit(wait_for_change, tree, debounce=DEBOUNCE, since=since, on_watching=ready.set, stop=stop)
        try:
            if not ready.wait(WAKE_TIMEOUT):
                raise AssertionError(f"the watch never started: {wake.exception(0)!r}")
            yield wake
        finally:
            stop.set()


def tree_of(config: Config) -> SourceTree:
    tree = source_tree(config)
    assert tree is not None
    return tree


def test_a_git_ignored_env_in_the_context_wakes_the_loop(tmp_path: Path) -> None:
    repo, config = init_layout(tmp_path)
    tree = tree_of(config)
    with watching(tree) as wake:
        (repo / ".env").write_text("FEATURE=on\n")
        woke = wake.result(WAKE_TIMEOUT)
    assert woke is not None and woke.paths == (".env",)
    assert woke.state == input_digest(config)


def test_scratch_outside_the_context_records_and_ignored_files_do_not_wake_it(tmp_path: Path) -> None:
    repo, config = init_layout(tmp_path, context="service")
    tree = tree_of(config)
    before = source_state(tree)
    with watching(tree) as wake:
        (repo / "scratch.txt").write_text("notes\n")  # untracked, beside the context
        (repo / "service" / "iterations").mkdir()
        (repo / "service" / "iterations" / "0001.json").write_text("{}\n")
        (repo / "service" / "docs").mkdir()
        (repo / "service" / "docs" / "notes.md").write_text("not in the image\n")
        (repo / "service" / "app" / "main.py").write_text("print('v2')\n")
        woke = wake.result(WAKE_TIMEOUT)
    assert woke is not None and woke.paths == ("app/main.py",)
    assert woke.state != before


def test_an_editors_save_burst_is_one_change_with_the_final_digest(tmp_path: Path) -> None:
    repo, config = init_layout(tmp_path)
    tree = tree_of(config)
    target = repo / "app" / "main.py"
    with watching(tree) as wake:
        # vim's save: probe the folder, keep a backup, write anew, restore the mode, drop the backup.
        (repo / "app" / "4913").write_text("")
        (repo / "app" / "4913").unlink()
        target.rename(repo / "app" / "main.py~")
        target.write_text("print('v2')\n")
        os.chmod(target, 0o644)
        (repo / "app" / "main.py~").unlink()
        woke = wake.result(WAKE_TIMEOUT)
    assert woke is not None and "app/main.py" in woke.paths and "app/main.py~" in woke.paths
    assert woke.state == input_digest(config)  # not a digest taken halfway, with main.py renamed away


def test_an_edit_made_before_the_watch_began_is_caught_by_its_first_look(tmp_path: Path) -> None:
    repo, config = init_layout(tmp_path)
    tree = tree_of(config)
    built = source_state(tree)
    (repo / "app" / "main.py").write_text("print('v2')\n")
    woke = wait_for_change(tree, debounce=DEBOUNCE, since=built)
    assert woke is not None and woke.state == input_digest(config)


def test_the_watcher_and_the_digest_share_one_rule(tmp_path: Path) -> None:
    repo, config = init_layout(tmp_path)
    (repo / ".env").write_text("x\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("x\n")
    (repo / "iterations").mkdir()
    (repo / "iterations" / "0001.json").write_text("{}\n")
    rules = input_rules(config)
    inputs = set(rules.files())
    assert inputs == {".dockerignore", ".env", ".gitignore", "Dockerfile", "app", "app/main.py"}
    every = [path.relative_to(repo).as_posix() for path in repo.rglob("*")]
    assert {path for path in every if tree_of(config).counts(str(repo / path))} == inputs
    assert not tree_of(config).counts(str(tmp_path / "elsewhere.txt"))


def test_what_dockerignore_excludes_leaves_the_state_but_dockerignore_itself_moves_it(tmp_path: Path) -> None:
    repo, config = init_layout(tmp_path)
    tree = tree_of(config)
    before = source_state(tree)
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("not in the image\n")
    (repo / "iterations").mkdir()
    for name in ("0001.json", "0001.md", "0001.build.log", ".history-cache.jsonl", ".lock"):
        (repo / "iterations" / name).write_text("written by loopctl\n")
    assert source_state(tree) == before
    (repo / ".dockerignore").write_text("iterations\n.git\ndocs\napp/cache\n")
    assert source_state(tree) != before


def test_a_missing_dockerfile_is_a_state_of_its_own(tmp_path: Path) -> None:
    repo, config = init_layout(tmp_path)
    tree = tree_of(config)
    before = source_state(tree)
    (repo / "Dockerfile").unlink()
    assert source_state(tree).startswith("unbuildable: no Dockerfile")
    assert source_state(tree) != before


def test_nothing_built_means_nothing_to_watch(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"project": "svc", "deploy": {"target": "url", "url": "http://127.0.0.1:1"}, "base_dir": tmp_path}
    )
    assert source_tree(config) is None


def test_a_context_that_does_not_exist_yet_is_watched_from_above_and_its_creation_wakes_the_loop(
    tmp_path: Path,
) -> None:
    config = Config.model_validate(
        {"project": "svc", "build": {"context": "later/service", "image": "127.0.0.1:5000/svc"}, "base_dir": tmp_path}
    )
    tree = tree_of(config)
    assert source_state(tree).startswith("unbuildable: build.context")
    with watching(tree) as wake:
        (tmp_path / "later" / "service").mkdir(parents=True)
        (tmp_path / "later" / "service" / "Dockerfile").write_text("FROM scratch\n")
        woke = wake.result(WAKE_TIMEOUT)
    assert woke is not None and not woke.state.startswith("unbuildable")


def test_several_services_wake_the_loop_on_an_edit_in_any_built_context_and_only_there(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for name in ("api", "store"):
        (repo / name).mkdir(parents=True)
        (repo / name / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
        (repo / name / "main.py").write_text("print('v1')\n")
    (repo / "notes.txt").write_text("beside both\n")
    services = {
        name: {"build": {"context": name, "image": f"127.0.0.1:5000/{name}"}, "deploy": {"target": "url", "url": "x"}}
        for name in ("store", "api")
    }
    services["api"]["depends_on"] = ["store"]
    config = Config.model_validate({"project": "shop", "services": services, "base_dir": repo})
    tree = tree_of(config)
    assert [context.rules.context.name for context in tree.contexts] == ["store", "api"]
    before = source_state(tree)
    with watching(tree) as wake:
        (repo / "notes.txt").write_text("still beside both\n")
        (repo / "store" / "main.py").write_text("print('v2')\n")
        woke = wake.result(WAKE_TIMEOUT)
    assert woke is not None and woke.paths == ("store/main.py",)
    assert woke.state != before and woke.state.split()[1] == before.split()[1]  # the api's digest did not move
