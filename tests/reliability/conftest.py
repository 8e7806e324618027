"""Fixtures shared by the reliability tests: the sample service's image, a registry, engine clean-up."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import SERVICE_SOURCE
from tests.support.realparts import BASE_IMAGE, RegistryHandle, docker_client, start_registry

AGENT_IMAGE = "loopctl-reliability/agent-service:latest"


@pytest.fixture(scope="session")
def agent_image() -> str:
    """The sample service built once on the engine (the layer cache makes it instant after the first time)."""
    docker_client().images.build(
        path=str(SERVICE_SOURCE), tag=AGENT_IMAGE, buildargs={"BASE_IMAGE": BASE_IMAGE}, rm=True
    )
    return AGENT_IMAGE


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryHandle]:
    """A throwaway registry; the images tagged for it are removed from the engine afterwards."""
    with start_registry(tmp_path) as handle:
        yield handle
    remove_images_of(handle.address)


def remove_images_of(address: str) -> None:
    """Untag every image whose repository lives at `address`, so tests do not pile images up in the engine."""
    import docker.errors

    client = docker_client()
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(f"{address}/"):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag, noprune=False)


@pytest.fixture
def tiny_context(tmp_path: Path) -> Path:
    """A build context of one file on `scratch`: builds and pushes in well under a second, unique per test."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY stamp.txt /stamp.txt\n")
    (context / "stamp.txt").write_text(f"{tmp_path}\n")
    return context
