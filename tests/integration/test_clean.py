"""`loopctl clean` against the real engine and a real registry: what goes, what stays and why, and --dry-run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import realparts
from tests.support.doctor import run_doctor


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    yield from realparts.engine_with_base_image()


@pytest.fixture
def project(engine: Any) -> Iterator[str]:
    yield from realparts.labelled_project(engine, "loopctl-test-clean")


def clean(folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    """`loopctl clean --json ARGS` in `folder`, the config named by LOOPCTL_CONFIG as a user might."""
    done = subprocess.run(
        [sys.executable, "-m", "loopctl", "clean", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
        env={**os.environ, "LOOPCTL_CONFIG": str(folder / "loopctl.yaml"), **(env or {})},
        check=False,
    )
    return done.returncode, (json.loads(done.stdout)["data"] or {} if done.stdout else {}), done.stderr


def write_config(folder: Path, project: str, image: str, *, push: bool) -> None:
    lines = [f"project: {project}", f"build: {{context: ., image: {image}}}"]
    (folder / "loopctl.yaml").write_text("\n".join([*lines, "push: {auth: none}"] if push else lines) + "\n")


def build(engine: Any, repository: str, project: str, n: int, *, base: str = "scratch") -> Any:
    """A small image of this project's, tagged as the build phase tags iteration `n`."""
    dockerfile = f"FROM {base}\nCOPY n.txt /n.txt\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, body in (("Dockerfile", dockerfile), ("n.txt", f"{n} {uuid.uuid4()}".encode())):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    context.seek(0)
    labels = {"loopctl.project": project, "loopctl.service": project}
    tag = f"{repository}:in-{n:032x}"
    image, _ = engine.images.build(fileobj=context, custom_context=True, tag=tag, labels=labels, rm=True, forcerm=True)
    for tag in (f"loopctl-{n:04d}", f"{n:012x}-dirty"):
        image.tag(repository, tag)
    return image


def container(engine: Any, project: str, image: Any, n: int, *, running: bool = False) -> Any:
    labels = {"loopctl.project": project, "loopctl.service": project, "loopctl.iteration": str(n)}
    made = engine.containers.create(image.id, name=f"{project}-{n}", command=["sleep", "300"], labels=labels)
    if running:
        made.start()
    return made


def references(engine: Any, repository: str) -> set[str]:
    return {tag for image in engine.images.list(name=repository) for tag in image.tags}


def test_clean_keeps_the_last_n_and_what_serves_and_dry_run_removes_nothing(
    tmp_path: Path, engine: Any, project: str
) -> None:
    repository = f"loopctl-test-clean/{project}"
    images = {n: build(engine, repository, project, n, base=realparts.BASE_IMAGE) for n in range(1, 6)}
    images[1].tag(repository, "mine")  # a tag of the user's: never loopctl's to remove
    for n in range(1, 6):
        container(engine, project, images[n], n, running=n == 2)
    engine.networks.create(f"{project}-net", labels={"loopctl.project": project})
    write_config(tmp_path, project, repository, push=False)
    try:
        _, findings, _ = run_doctor(tmp_path / "loopctl.yaml")
        assert findings["leftovers"]["warning"] is True and "`loopctl clean`" in str(findings["leftovers"]["fix"])
        assert str(findings["leftovers"]["detail"]).startswith("1 container, 3 images, 1 network of ")

        code, dry, stderr = clean(tmp_path, "--keep", "2", "--dry-run")
        assert code == 0, stderr
        assert f"would remove container {project}-1" in stderr and f"would remove network {project}-net" in stderr
        assert sorted(
            c.name for c in engine.containers.list(all=True, filters={"label": f"loopctl.project={project}"})
        ) == [f"{project}-{n}" for n in range(1, 6)]
        assert f"{repository}:loopctl-0001" in references(engine, repository)

        code, done, stderr = clean(tmp_path, "--keep", "2")
        assert code == 0, stderr
        assert dry["found"] == done["found"]
        left = {c.name for c in engine.containers.list(all=True, filters={"label": f"loopctl.project={project}"})}
        assert left == {f"{project}-2", f"{project}-4", f"{project}-5"}
        assert f"kept container {project}-2: serving" in stderr
        assert references(engine, repository) == {
            f"{repository}:{tag}" for n in (2, 4, 5) for tag in (f"loopctl-{n:04d}", f"{n:012x}-dirty", f"in-{n:032x}")
        } | {f"{repository}:mine"}
        assert f"kept image {repository}:loopctl-0002: a kept container runs it" in stderr
        assert not engine.networks.list(names=[f"{project}-net"])
    finally:
        for made in engine.containers.list(all=True, filters={"label": f"loopctl.project={project}"}):
            made.remove(force=True)
        for image in engine.images.list(name=repository):
            engine.images.remove(image.id, force=True)
        for leftover in engine.networks.list(names=[f"{project}-net"]):
            leftover.remove()


def push_all(engine: Any, repository: str) -> None:
    for image in engine.images.list(name=repository):
        for reference in image.tags:
            for _ in engine.api.push(repository, tag=reference.rpartition(":")[2], stream=True, decode=True):
                pass


def registry_tags(registry: realparts.RegistryHandle, path: str) -> set[str]:
    import urllib.request

    with urllib.request.urlopen(f"{registry.url}/v2/{path}/tags/list", timeout=10) as response:
        return set(json.loads(response.read())["tags"] or [])


def test_clean_deletes_registry_manifests_that_carry_only_its_tags(tmp_path: Path, engine: Any, project: str) -> None:
    with realparts.start_registry(tmp_path / "registry") as registry:
        path = f"clean/{project}"
        repository = f"{registry.address}/{path}"
        images = {n: build(engine, repository, project, n) for n in range(1, 5)}
        images[1].tag(repository, "v1")  # the user's release tag on iteration 1's image
        push_all(engine, repository)
        write_config(tmp_path, project, repository, push=True)
        try:
            pushed = registry_tags(registry, path)
            dry_code, dry, dry_stderr = clean(tmp_path, "--keep", "2", "--dry-run")
            after_dry_run = registry_tags(registry, path)
            code, done, stderr = clean(tmp_path, "--keep", "2")
            tags = registry_tags(registry, path)
        finally:
            for image in engine.images.list(name=repository):
                engine.images.remove(image.id, force=True)

    assert dry_code == 0, dry_stderr
    assert after_dry_run == pushed and f"in-{2:032x}" in pushed  # a dry run deletes nothing in the registry
    assert [item for item in dry["found"] if item["kind"] == "registry"] == [
        item for item in done["found"] if item["kind"] == "registry"
    ]
    assert code == 0, stderr
    assert "loopctl-0002" not in tags and f"{2:012x}-dirty" not in tags and f"in-{2:032x}" not in tags
    assert {"loopctl-0001", "v1", "loopctl-0003", "loopctl-0004"} <= tags
    assert "1 manifest(s) in" in stderr and "tags loopctl did not make" in stderr
    removed = [item for item in done["found"] if item["kind"] == "registry" and not item["why_kept"]]
    assert [item["iteration"] for item in removed] == [2]


def test_a_registry_that_forbids_deleting_is_named_and_its_tags_stay(tmp_path: Path, engine: Any, project: str) -> None:
    with realparts.start_registry(tmp_path / "registry", delete=False) as registry:
        path = f"clean/{project}"
        repository = f"{registry.address}/{path}"
        for n in range(1, 4):
            build(engine, repository, project, n)
        push_all(engine, repository)
        write_config(tmp_path, project, repository, push=True)
        try:
            code, done, stderr = clean(tmp_path, "--keep", "1")
            tags = registry_tags(registry, path)
        finally:
            for image in engine.images.list(name=repository):
                engine.images.remove(image.id, force=True)

    assert code == 0, stderr
    assert {"loopctl-0001", "loopctl-0002", "loopctl-0003"} <= tags
    assert "the registry does not allow deleting" in stderr and "2 manifest(s) left" in stderr
    kept = {item["iteration"]: item["why_kept"] for item in done["found"] if item["kind"] == "registry"}
    assert kept == {
        3: "among the last 1",
        2: "the registry does not allow deleting",
        1: "the registry does not allow deleting",
    }
