"""The real parts the suite relies on: docker-registry processes, the Docker Engine, the base image."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from tests.support import realparts
except ModuleNotFoundError:  # the repo root is on sys.path only if pytest is told so
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.support import realparts

USERS = {"ci": "s3cret-pass"}


@pytest.fixture
def engine() -> Iterator[Any]:
    """A docker.DockerClient; fails (never skips) when no engine answers."""
    if reason := realparts.engine_missing_reason():
        pytest.fail(reason, pytrace=False)
    client = realparts.docker_client()
    yield client
    client.close()


@pytest.fixture
def base_image(engine: Any) -> str:
    if reason := realparts.base_image_missing_reason():
        pytest.fail(reason, pytrace=False)
    return realparts.BASE_IMAGE


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_registry_answers_stops_and_restarts_on_the_same_port(tmp_path: Path) -> None:
    with realparts.start_registry(tmp_path) as registry:
        first = registry.request("GET", "/v2/")
        assert first.status == 200
        assert first.headers["docker-distribution-api-version"] == "registry/2.0"
        assert realparts.listen_addresses(registry.port) == {"127.0.0.1"}
        assert registry.manifest_digest("nothing/here", "latest") is None

        registry.stop()
        assert not registry.running
        assert _refused(registry.port)

        registry.start()
        assert registry.address == f"127.0.0.1:{registry.port}"
        assert registry.request("GET", "/v2/").status == 200
    assert _refused(registry.port)


def test_registry_with_htpasswd_wants_basic_auth(tmp_path: Path) -> None:
    with realparts.start_registry(tmp_path, htpasswd=USERS) as registry:
        anonymous = registry.request("GET", "/v2/", auth=False)
        assert anonymous.status == 401
        assert anonymous.headers["www-authenticate"].startswith("Basic ")
        assert registry.request("GET", "/v2/", auth=("ci", "wrong")).status == 401
        assert registry.request("GET", "/v2/").status == 200


def test_engine_answers_docker_version_via_the_sdk(engine: Any) -> None:
    assert realparts.engine_available()
    version = engine.version()
    assert version["ApiVersion"]
    assert version["Os"] == "linux"


def test_base_image_runs_python3_with_websockets(engine: Any, base_image: str) -> None:
    output = engine.containers.run(
        base_image,
        ["python3", "-c", "import websockets; print(websockets.__version__)"],
        remove=True,
        network_mode="none",
    )
    major = int(output.decode().strip().split(".")[0])
    assert major >= 10


def test_pushed_digest_matches_and_survives_a_restart(tmp_path: Path, engine: Any, base_image: str) -> None:
    with realparts.start_registry(tmp_path, htpasswd=USERS) as registry:
        repo = f"{registry.address}/realparts-smoke"
        engine.images.get(base_image).tag(repo, tag="t1")
        try:
            user, password = next(iter(USERS.items()))
            auth = {"username": user, "password": password}
            events = list(engine.images.push(repo, tag="t1", stream=True, decode=True, auth_config=auth))
        finally:
            engine.images.remove(f"{repo}:t1")
        errors = [e["error"] for e in events if "error" in e]
        assert not errors
        pushed = next(e["aux"]["Digest"] for e in events if "Digest" in e.get("aux", {}))

        assert registry.manifest_digest("realparts-smoke", "t1") == pushed
        registry.stop()
        registry.start()
        assert registry.manifest_digest("realparts-smoke", "t1") == pushed
        assert registry.manifest_digest("realparts-smoke", "missing") is None
