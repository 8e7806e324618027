""" "Changes since" in the layout `loopctl init` writes: the iterations folder inside the build context and ignored.

The iterations run through the real runner, store, git and report; only the build and probe phases are scripted
(a build phase that records an input digest, a probe phase that records one failing check).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from loopctl.config import load_config
from loopctl.phases.base import Context, PhaseResult
from loopctl.records.record import CheckRecord, Record
from loopctl.records.sections import BuildSection
from loopctl.reports.markdown import render_markdown
from loopctl.runner import run_iteration
from tests.support.git import git
from tests.support.records import http_check
from tests.test_init import init


class Build:
    """Records an input digest that moves with every iteration, as an edit moves the real one."""

    name = "build"

    def run(self, ctx: Context) -> PhaseResult:
        return PhaseResult("ok", section=BuildSection(input_digest=f"sha256:{ctx.number:064x}", cached="no"))


class Probe:
    """One failing check, so every iteration is compared with the one before."""

    name = "probe"

    def run(self, ctx: Context) -> PhaseResult:
        return PhaseResult("failed", checks=(CheckRecord.model_validate(http_check(status=500)),))


def _render(record: Record, previous: Record | None, trend: Sequence[Record]) -> str:
    return render_markdown(record, previous, trend=trend)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "chat"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM scratch\nEXPOSE 8000\n")
    (folder / "app.py").write_text("one\ntwo\nthree\n")
    (folder / "old_name.py").write_text("moved\n")
    (folder / "gone.py").write_text("deleted soon\n")
    (folder / ".gitignore").write_text(".env\n")
    git(folder, "init", "-q")
    done = init(folder, "--target", "docker")
    assert done.returncode == 0, done.stderr
    git(folder, "add", ".")
    git(folder, "commit", "-qm", "the service")
    (folder / ".env").write_text("SECRET=one\n")  # ignored, inside the context
    return folder


def iterate(repo: Path) -> Record:
    config = load_config(repo / "config.yaml", check_env=False)
    return run_iteration(config, [Build(), Probe()], render=_render, on_event=lambda event: None).record


def changed(record: Record) -> list[str]:
    assert record.changes is not None
    return [item.path for item in record.changes.files]


def test_each_iteration_lists_the_uncommitted_edits_since_the_one_before(repo: Path) -> None:
    first = iterate(repo)
    assert first.git.tree is not None  # the ignored iterations folder inside the context no longer breaks it

    (repo / "app.py").write_text("one\n2\nthree\n")
    (repo / "new.py").write_text("untracked\n")
    (repo / ".env").write_text("SECRET=two\n")
    second = iterate(repo)
    assert changed(second) == ["app.py", "new.py"]
    assert second.changes is not None and second.changes.commits == []
    report = (repo / "iterations" / "0002.md").read_text()
    assert "`app.py`" in report and "`new.py`" in report and "No file changed" not in report

    (repo / "gone.py").unlink()
    (repo / "old_name.py").rename(repo / "new_name.py")
    third = iterate(repo)
    assert changed(third) == ["gone.py", "new_name.py", "old_name.py"]

    git(repo, "add", "--all")
    git(repo, "commit", "-qm", "edits")
    git(repo, "revert", "--no-edit", "HEAD")
    fourth = iterate(repo)  # a commit and its revert: the tree is back where iteration 1 found it
    assert fourth.changes is not None and fourth.changes.commits == ['Revert "edits"', "edits"]
    assert changed(fourth) == ["app.py", "gone.py", "new.py", "new_name.py", "old_name.py"]

    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    (repo / "app.py").write_text("detached edit\n")
    fifth = iterate(repo)
    assert changed(fifth) == ["app.py", "gone.py", "new.py", "new_name.py", "old_name.py"]
    (repo / ".env").write_text("SECRET=three\n")  # ignored by git, but sent to the engine
    sixth = iterate(repo)
    assert changed(sixth) == [] and sixth.changes is not None
    assert "a git-ignored file of the context did" in sixth.changes.note
    assert "git-ignored file" in (repo / "iterations" / "0006.md").read_text()
    listed = [path for record in (second, third, fourth, fifth) for path in changed(record)]
    assert not [path for path in listed if path.startswith("iterations")]


def test_a_shallow_clone_lists_uncommitted_edits(repo: Path, tmp_path: Path) -> None:
    (repo / "app.py").write_text("second commit\n")
    git(repo, "commit", "-qam", "second")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    iterate(clone)
    (clone / "app.py").write_text("edited in the clone\n")
    second = iterate(clone)
    assert changed(second) == ["app.py"]
