"""An image under the registry's input tag is reused only when an earlier iteration built and pushed it itself."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import (
    HEALTH_CHECK,
    SERVICE_SOURCE,
    assert_complete,
    assert_no_traceback,
    iterate,
    iterations,
    write_config,
)
from tests.support.realparts import BASE_IMAGE, RegistryHandle, docker_client, throwaway_container_name

PHASES = [("build", "ok"), ("push", "ok"), ("deploy", "ok"), ("probe", "ok")]


@pytest.fixture
def container_name() -> Iterator[str]:
    yield from throwaway_container_name("loopctl-cache")


def cache_config(folder: Path, registry: RegistryHandle, name: str, cache: str | None = None) -> None:
    context = folder / "agent-service"
    if not context.exists():
        shutil.copytree(SERVICE_SOURCE, context, ignore=shutil.ignore_patterns("__pycache__"))
    policy = f", cache: {cache}" if cache else ""
    write_config(
        folder,
        f"""\
project: cache
build: {{context: {context}, image: {registry.address}/agent, args: {{BASE_IMAGE: {BASE_IMAGE}}}{policy}}}
push: {{auth: none}}
deploy:
  target: docker
  docker: {{name: {name}, env: {{JWT_SECRET: {{env: DEMO_JWT_SECRET}}}}}}
probe:
  checks:
{HEALTH_CHECK}""",
    )


def push_a_stranger(reference: str, built_from: str) -> None:
    """What anyone who can push may do: a working image of their own under the input tag (the local copy of the
    tag is then removed, as on a fresh CI runner)."""
    client = docker_client()
    dockerfile = f"FROM {built_from}\nLABEL planted=yes\n".encode()
    client.images.build(fileobj=io.BytesIO(dockerfile), tag=reference, rm=True, pull=False)
    repository, tag = reference.rsplit(":", 1)
    client.images.push(repository, tag=tag)
    client.images.remove(reference)


def deployed_labels(name: str) -> dict[str, str]:
    container = docker_client().containers.get(name)
    return dict(container.image.labels or {})


def test_a_stranger_image_under_the_input_tag_is_rebuilt_unless_the_registry_is_trusted(
    tmp_path: Path, registry: RegistryHandle, container_name: str
) -> None:
    cache_config(tmp_path, registry, container_name)
    first = iterate(tmp_path, "--ci", timeout=300)
    assert first.returncode == 0, first.stderr
    built = assert_complete(tmp_path, 1, status="success", phases=PHASES)
    cache_tag = built["build"]["cache_tag"]

    ours = f"{registry.address}/agent:loopctl-0001"
    push_a_stranger(cache_tag, built_from=ours)
    again = iterate(tmp_path, "--ci", timeout=300)
    assert again.returncode == 0, again.stderr
    assert_no_traceback(again.stderr)
    rebuilt = assert_complete(tmp_path, 2, status="success", phases=PHASES)
    note = rebuilt["build"]["cache_note"]
    assert note.startswith(f"not reusing {cache_tag}: no earlier iteration here built these inputs"), note
    assert note in again.stderr and "is already in the registry" not in again.stderr
    assert rebuilt["build"]["cached"] == "no" and (iterations(tmp_path) / "0002.build.log").exists()
    assert "so it is built again" in (iterations(tmp_path) / "0002.md").read_text()
    # Its own image went up under the input tag again, and that is what runs.
    assert registry.manifest_digest("agent", cache_tag.rsplit(":", 1)[1]) == rebuilt["push"]["digest"]
    assert "planted" not in deployed_labels(container_name)

    # Unchanged again: the registry now holds the image iteration 2 built and pushed, so it is reused.
    trusted = iterate(tmp_path, "--ci", timeout=300)
    assert trusted.returncode == 0, trusted.stderr
    reused = assert_complete(tmp_path, 3, status="success", phases=PHASES)
    assert reused["build"]["cached"] == "remote" and "cache_note" not in reused["build"]
    assert reused["push"]["digest"] == rebuilt["push"]["digest"]

    # `registry` is the old trust in the tag, chosen knowingly; `off` builds whatever the registry holds.
    push_a_stranger(cache_tag, built_from=ours)
    cache_config(tmp_path, registry, container_name, cache="registry")
    assert iterate(tmp_path, "--ci", timeout=300).returncode == 0
    assert assert_complete(tmp_path, 4, status="success", phases=PHASES)["build"]["cached"] == "remote"
    assert deployed_labels(container_name).get("planted") == "yes"
    cache_config(tmp_path, registry, container_name, cache="off")
    assert iterate(tmp_path, "--ci", timeout=300).returncode == 0
    assert assert_complete(tmp_path, 5, status="success", phases=PHASES)["build"]["cached"] == "no"
    assert "planted" not in deployed_labels(container_name)
