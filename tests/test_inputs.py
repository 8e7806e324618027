"""The input digest and the build context leave loopctl's own files out, whatever .dockerignore says."""

from __future__ import annotations

import tarfile
from pathlib import Path

from loopctl.config import Config
from loopctl.phases.docker.build import build_context
from loopctl.phases.inputs import build_inputs, context_rules, input_digest, own_paths


def user_repo(tmp_path: Path, *, iterations_dir: str = "iterations", dockerignore: str | None = None) -> Config:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print('v1')\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    if dockerignore is not None:
        (tmp_path / ".dockerignore").write_text(dockerignore)
    return Config.model_validate(
        {
            "project": "svc",
            "iterations_dir": iterations_dir,
            "build": {"context": ".", "image": "127.0.0.1:5000/svc"},
            "base_dir": tmp_path,
        }
    )


def write_records(folder: Path, number: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("json", "md", "build.log"):
        (folder / f"{number:04d}.{suffix}").write_text(f"record {number}\n")
    (folder / ".history-cache.json").write_text(f"{number}\n")


def test_records_written_into_the_context_leave_the_digest_alone(tmp_path: Path) -> None:
    config = user_repo(tmp_path)
    write_records(tmp_path / "iterations", 1)
    before = input_digest(config)
    write_records(tmp_path / "iterations", 2)
    assert input_digest(config) == before
    (tmp_path / "app" / "main.py").write_text("print('v2')\n")
    assert input_digest(config) != before


def test_the_engine_receives_the_same_files_the_digest_covers(tmp_path: Path) -> None:
    config = user_repo(tmp_path, dockerignore="*.md\n")
    write_records(tmp_path / "iterations", 1)
    (tmp_path / "README.md").write_text("docs\n")
    inputs = build_inputs(config)
    assert "app/main.py" in inputs and "Dockerfile" in inputs
    assert not any(name.startswith("iterations") for name in inputs)
    assert "README.md" not in inputs
    archive, dockerfile = build_context(config)
    with archive, tarfile.open(fileobj=archive) as tar:
        names = tar.getnames()
    assert sorted(names) == sorted(inputs) and dockerfile == "Dockerfile"


def test_a_nested_iterations_folder_is_excluded_and_one_outside_the_context_is_ignored(tmp_path: Path) -> None:
    config = user_repo(tmp_path, iterations_dir="ops/loop-records")
    assert own_paths(config, tmp_path) == ["ops/loop-records"]
    (tmp_path / "svc").mkdir()
    outside = user_repo(tmp_path / "svc", iterations_dir="../records")
    assert own_paths(outside, tmp_path / "svc") == []
    rules = context_rules(tmp_path, "Dockerfile", ["ops/loop-records"])
    kept = [
        name
        for name in ["ops/loop-records", "ops/loop-records/0001.json", "ops/loop-recordsX/a", "a"]
        if rules.counts(name)
    ]
    assert kept == ["ops/loop-recordsX/a", "a"]


def test_the_image_tags_name_the_commit_the_record_names(tmp_path: Path) -> None:
    """One look at git per iteration: the tag says `-dirty` exactly when the record's git section does, even when
    the tree changes while the iteration runs."""
    import subprocess

    from loopctl.phases.base import Context
    from loopctl.phases.docker.build import image_tags
    from loopctl.records.store import Store

    config = user_repo(tmp_path)
    for command in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1"]):
        subprocess.run(["git", *command], cwd=tmp_path, check=True)
    ctx = Context(config, Store(tmp_path / "iterations"), 7, lambda event: None)
    tags = image_tags(ctx)
    (tmp_path / "app" / "main.py").write_text("print('edited while the build ran')\n")
    git = ctx.git()
    assert git["dirty"] is False and tags == [git["commit"][:12], "loopctl-0007"]
