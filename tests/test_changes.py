"""What changed since the iteration compared with, read from a real git repository (and from outside one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loopctl.clients import git_repo, git_tree
from loopctl.clients.git_repo import git_info
from loopctl.records.changes import changes_since
from loopctl.records.record import Changes, GitInfo, Record
from loopctl.reports.evidence import changes_section
from tests.support.git import git
from tests.support.records import make_record

CONFIG = "project: demo\nbuild:\n  context: service\nprobe:\n  checks: []\ndeploy:\n  target: url\n  url: http://a\n"


def repo(tmp_path: Path) -> Path:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "app.py").write_text("one\ntwo\nthree\n")
    (tmp_path / "service" / ".gitignore").write_text("*.log\n")
    (tmp_path / "docs.md").write_text("outside the context\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    git(tmp_path, "init", "--quiet")
    git(tmp_path, "add", "--all")
    git(tmp_path, "commit", "--quiet", "-m", "First")
    return tmp_path


def snapshot(root: Path, number: int, **build: Any) -> Record:
    """A record as the runner makes it: git as it is now, over the build context and the config."""
    info = git_info(root, [root / "service", root / "config.yaml"])
    return make_record(number, "progress", git=info, build={"input_digest": build.get("digest", "d")})


def since(root: Path, previous: Record, record: Record) -> dict[str, Any]:
    return changes_since(
        previous, record, folder=root, contexts={"service": root / "service"}, config_file=root / "config.yaml"
    )


def test_committed_uncommitted_and_untracked_changes_under_the_context_and_config(tmp_path: Path) -> None:
    root = repo(tmp_path)
    first = snapshot(root, 1)
    (root / "service" / "app.py").write_text("one\n2\nthree\nfour\n")
    git(root, "commit", "--quiet", "-am", "Handle the second line")
    (root / "service" / "new.py").write_text("fresh\nfile\n")  # untracked, not ignored
    (root / "service" / "debug.log").write_text("ignored\n")
    (root / "docs.md").write_text("changed, but outside what is built\n")
    (root / "config.yaml").write_text(CONFIG.replace("checks: []", "checks: [{name: x}]").replace("http://a", "b"))
    second = snapshot(root, 2, digest="e")

    found = since(root, first, second)

    assert found["commits"] == ["Handle the second line"]
    assert found["from_commit"] == first.git.commit and found["to_commit"] == second.git.commit
    assert found["files"] == [
        {"path": "config.yaml", "added": 2, "removed": 2},
        {"path": "service/app.py", "added": 2, "removed": 1},
        {"path": "service/new.py", "added": 2, "removed": 0},
    ]
    assert found["config_changed"] == ["deploy.url", "probe.checks"]
    assert found["input_changed"] is True and found["note"] == ""
    assert second.git.dirty is True and second.git.short == second.git.commit[:7] + "+"  # type: ignore[index]
    assert first.git.branch == second.git.branch == git(root, "rev-parse", "--abbrev-ref", "HEAD")
    assert first.git.dirty is False


def test_the_tree_is_the_same_asked_from_a_folder_below_the_top(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "service" / "app.py").write_text("edited, not committed\n")
    index = (root / ".git" / "index").read_bytes()
    paths = [root / "service", root / "config.yaml"]

    from_top, from_below = git_info(root, paths), git_info(root / "service", paths)

    assert from_top == from_below and from_top["tree"] and from_top["dirty"] is True
    assert (root / ".git" / "index").read_bytes() == index  # the user's index is never written


def test_two_iterations_on_one_dirty_commit_compare_their_trees(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "service" / "app.py").write_text("one\ntwo\n")
    first = snapshot(root, 1)
    (root / "service" / "app.py").write_text("one\ntwo\nthree again\n")
    second = snapshot(root, 2)
    assert first.git.commit == second.git.commit and first.git.tree != second.git.tree

    found = since(root, first, second)

    assert found["commits"] == [] and found["files"] == [{"path": "service/app.py", "added": 1, "removed": 0}]
    assert since(root, second, snapshot(root, 3))["files"] == []  # nothing since: nothing listed
    assert git(root, "status", "--porcelain") == "M service/app.py"  # the user's index was left alone


def test_an_older_record_without_a_tree_is_compared_from_its_commit(tmp_path: Path) -> None:
    root = repo(tmp_path)
    (root / "service" / "app.py").write_text("changed\n")
    current = snapshot(root, 2)
    older = make_record(1, "progress", git={"commit": current.git.commit, "dirty": True})
    found = since(root, older, current)
    assert found["files"] == [{"path": "service/app.py", "added": 1, "removed": 3}]
    assert "uncommitted changes were not recorded" in found["note"]


def test_outside_git_only_the_input_digest_is_compared(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    first = snapshot(tmp_path, 1, digest="a")
    assert first.git.commit is None and first.git.tree is None
    found = since(tmp_path, first, snapshot(tmp_path, 2, digest="a"))
    assert found == {
        "since": 1,
        "in_git": False,
        "input_changed": False,
        "note": "not a git work tree: only the build context's input digest is compared",
    }
    assert since(tmp_path, first, snapshot(tmp_path, 2, digest="b"))["input_changed"] is True
    assert since(tmp_path, first, snapshot(tmp_path, 2, digest=""))["input_changed"] is None  # no digest: unknown


def test_config_keys_are_named_two_levels_deep_whatever_moved_below(tmp_path: Path) -> None:
    root = repo(tmp_path)
    nested = CONFIG + "  docker: {env: {A: '1'}, port: 8080}\n"
    (root / "config.yaml").write_text(nested)
    git(root, "commit", "--quiet", "-am", "Docker block")
    first = snapshot(root, 1)
    (root / "config.yaml").write_text(nested.replace("A: '1'", "A: '2'").replace("project: demo", "project: x"))
    assert since(root, first, snapshot(root, 2))["config_changed"] == ["deploy.docker", "project"]


def test_a_context_that_holds_the_iterations_folder_does_not_list_its_records(tmp_path: Path) -> None:
    root = repo(tmp_path)
    outputs = root / "iterations"
    outputs.mkdir()
    (outputs / "0001.json").write_text("{}\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "Keep iteration 1")  # users keep iterations/ in git

    def whole(number: int) -> Record:
        info = git_info(root, [root, root / "config.yaml"], [outputs])
        return make_record(number, "progress", git=info)

    first = whole(1)
    (outputs / "0001.md").write_text("# report\n")
    (outputs / "0002.json").write_text("{}\n")
    git(root, "add", "iterations/0002.json")
    git(root, "commit", "--quiet", "-m", "Keep iteration 2")
    (root / "service" / "app.py").write_text("one\n")
    found = changes_since(
        first, whole(2), folder=root, contexts={"service": root}, config_file=root / "config.yaml", excluded=[outputs]
    )
    assert found["files"] == [{"path": "service/app.py", "added": 0, "removed": 2}]
    assert found["commits"] == ["Keep iteration 2"]


def _object_files(root: Path) -> set[Path]:
    return {path for path in (root / ".git" / "objects").rglob("*") if path.is_file()}


def test_a_huge_untracked_file_stands_in_by_size_and_time_and_is_never_copied(tmp_path: Path) -> None:
    root = repo(tmp_path)
    first = snapshot(root, 1)
    huge = root / "service" / "dump.bin"
    with huge.open("wb") as sparse:
        sparse.truncate(3 * 1024**3)  # 3 GB on paper, no disk used
    before = _object_files(root)

    second = snapshot(root, 2)

    assert second.git.tree and second.git.large_files == ["service/dump.bin"]
    added = _object_files(root) - before
    assert sum(path.stat().st_size for path in added) < 64 * 1024  # a stand-in blob and trees, not 3 GB of zeros
    assert not [path for path in (root / ".git" / "objects").rglob("tmp_*")]
    found = since(root, first, second)
    assert found["files"] == [{"path": "service/dump.bin", "added": None, "removed": None}]
    assert "service/dump.bin" in found["note"] and "size and modification time" in found["note"]
    with huge.open("r+b") as sparse:
        sparse.truncate(2 * 1024**3)
    third = snapshot(root, 3)
    assert since(root, second, third)["files"] == [{"path": "service/dump.bin", "added": None, "removed": None}]
    assert since(root, third, snapshot(root, 4))["files"] == []  # same size, same time: unchanged


def test_a_snapshot_that_outruns_its_time_leaves_nothing_in_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = repo(tmp_path)
    with (root / "service" / "dump.bin").open("wb") as sparse:
        sparse.truncate(3 * 1024**3)
    monkeypatch.setattr(git_tree, "FILE_LIMIT", 4 * 1024**3)  # hash it: git takes seconds over 3 GB
    monkeypatch.setattr(git_tree, "TOTAL_LIMIT", 4 * 1024**3)
    monkeypatch.setattr(git_tree, "GIT_TIMEOUT", 1.0)
    before = _object_files(root)

    assert git_info(root, [root / "service"])["tree"] is None
    assert _object_files(root) == before  # no tmp_pack_*, no loose object: they went with the private folder


def test_commit_subjects_are_cleaned_clipped_and_counted(tmp_path: Path) -> None:
    root = repo(tmp_path)
    first = snapshot(root, 1)
    message = tmp_path / "message.txt"
    for number in range(55):
        message.write_text(f"Fix \u202eevil\x1b[31m {number} " + "x" * 1_000_000 + "\n")
        git(root, "commit", "--quiet", "--allow-empty", "--cleanup=verbatim", "-F", str(message))
    second = snapshot(root, 2)

    found = since(root, first, second)
    record = second.model_copy(update={"changes": Changes.model_validate(found)})

    assert len(found["commits"]) == 50 and found["commit_count"] == 55
    assert found["commits"][0].startswith("Fix evil[31m 54 xxx") and len(found["commits"][0]) <= 200
    assert "\u202e" not in json.dumps(record.to_json_dict(), ensure_ascii=False)
    assert len(json.dumps(record.to_json_dict())) < 50_000
    report = "\n".join(changes_section(record))
    assert "55 commits (the newest 50 listed)" in report and len(report) < 30_000


def test_a_detached_checkout_names_the_ci_branch_or_the_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = repo(tmp_path)
    for name in git_repo.CI_BRANCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    git(root, "checkout", "--quiet", "--detach")
    commit = git(root, "rev-parse", "HEAD")

    alone = GitInfo.model_validate(git_info(root))
    assert alone.branch is None and alone.detached is True and alone.where == f"detached at {commit[:7]}"
    monkeypatch.setenv("GITHUB_HEAD_REF", "fix-auth\u202e\x1b[2J")
    in_ci = GitInfo.model_validate(git_info(root))
    assert in_ci.branch == "fix-auth[2J" and in_ci.branch_from == "GITHUB_HEAD_REF"
    assert in_ci.where == f"fix-auth[2J (from GITHUB_HEAD_REF; detached at {commit[:7]})"
    git(root, "checkout", "--quiet", "-B", "main")
    assert GitInfo.model_validate(git_info(root)).where == "main"  # on a branch, the CI's name is not needed


def test_going_back_to_an_older_commit_says_so(tmp_path: Path) -> None:
    root = repo(tmp_path)
    for number in (2, 3):
        git(root, "commit", "--quiet", "--allow-empty", "-m", f"Commit {number}")
    first = snapshot(root, 1)
    git(root, "checkout", "--quiet", "HEAD~2")

    found = since(root, first, snapshot(root, 2))

    assert found["commits"] == [] and found["commit_count"] == 0 and found["commits_back"] == 2
    record = snapshot(root, 2).model_copy(update={"changes": Changes.model_validate(found)})
    assert ": went back 2 commits." in "\n".join(changes_section(record))
    git(root, "commit", "--quiet", "--allow-empty", "-m", "Elsewhere")
    found = since(root, first, snapshot(root, 3))
    record = record.model_copy(update={"changes": Changes.model_validate(found)})
    assert ": 1 commit, after going back 2 (another branch, or history rewritten):" in "\n".join(
        changes_section(record)
    )


def test_new_content_past_the_snapshot_budget_stands_in_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = repo(tmp_path)
    monkeypatch.setattr(git_tree, "TOTAL_LIMIT", 100)  # bytes; the real one is 64 MiB
    for name in ("a.txt", "b.txt", "c.txt"):
        (root / "service" / name).write_text("x" * 60)

    info = snapshot(root, 1).git

    assert info.tree and info.large_files == ["service/b.txt", "service/c.txt"]  # a.txt fitted, then none did
    blob = git(root, "rev-parse", f"{info.tree}:service/a.txt")
    assert git(root, "cat-file", "-p", blob) == "x" * 60


def test_with_several_services_each_uncommitted_file_names_the_innermost_context_holding_it(tmp_path: Path) -> None:
    for folder in ("web", "web/api", "store"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "main.py").write_text("v1\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    git(tmp_path, "init", "--quiet")
    git(tmp_path, "add", "--all")
    git(tmp_path, "commit", "--quiet", "-m", "First")
    contexts = {"web": tmp_path / "web", "api": tmp_path / "web" / "api", "store": tmp_path / "store"}
    watched = [*contexts.values(), tmp_path / "config.yaml"]
    first = make_record(1, "progress", git=git_info(tmp_path, watched))
    for folder in ("web", "web/api", "store"):
        (tmp_path / folder / "main.py").write_text("v2\n")  # never committed
    (tmp_path / "config.yaml").write_text(CONFIG + "# a note\n")
    second = make_record(2, "progress", git=git_info(tmp_path, watched))
    found = changes_since(first, second, folder=tmp_path, contexts=contexts, config_file=tmp_path / "config.yaml")
    assert {item["path"]: item.get("service") for item in found["files"]} == {
        "config.yaml": None,
        "store/main.py": "store",
        "web/api/main.py": "api",  # inside web's context too: the innermost one is the service it belongs to
        "web/main.py": "web",
    }
