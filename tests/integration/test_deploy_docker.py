"""The docker deploy target against a real Docker Engine: run, replace, crash, silence, pull, no engine."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from pydantic import ValidationError

from loopctl.config import Config, DeployConfig, DockerDeployConfig
from loopctl.errors import LoopctlError
from loopctl.phases.base import Context, Event, PhaseResult, RunOptions
from loopctl.phases.docker.deploy import DockerDeploy
from loopctl.phases.docker.retire import finish_retiring
from loopctl.probe.options import run_check_sync
from loopctl.probe.spec import Check
from loopctl.records.sections import DeploySection, PushSection
from loopctl.records.store import Store
from loopctl.secrets import Secret
from loopctl.secrets.jwt import mint_jwt
from loopctl.secrets.references import EnvRef
from tests.integration.agent_service import EVENTS
from tests.support import realparts

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "agent-service"
TAG = "loopctl-test/agent-service:deploy"
SECRET_VAR = "LOOPCTL_TEST_DEPLOY_SECRET"


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A docker.DockerClient; fails (never skips) when no engine or base image is there."""
    yield from realparts.engine_with_base_image()


@pytest.fixture(scope="module")
def image(engine: Any) -> str:
    engine.images.build(path=str(SERVICE), buildargs={"BASE_IMAGE": realparts.BASE_IMAGE}, tag=TAG, rm=True)
    return TAG


@pytest.fixture(scope="module")
def project(engine: Any) -> Iterator[str]:
    """A project name of this module's own: every container it labels is removed at the end."""
    yield from realparts.labelled_project(engine, "loopctl-test-deploy")


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"deploy-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv(SECRET_VAR, value)
    return value


def make_ctx(
    tmp_path: Path, project: str, *, name: str | None = None, image: str | None = None, number: int = 1, **docker: Any
) -> Context:
    """A Context for the deploy phase alone; its events are kept in `ctx.on_event.events`."""
    spec = DockerDeployConfig(name=name or f"{project}-{uuid.uuid4().hex[:6]}", **docker)
    config = Config(project=project, iterations_dir=str(tmp_path), deploy=DeployConfig(target="docker", docker=spec))
    return Context(config, Store(tmp_path), number, Events(), RunOptions(image=image))


class Events(list[Event]):
    def __call__(self, event: Event) -> None:
        self.append(event)


def messages(ctx: Context) -> list[str]:
    assert isinstance(ctx.on_event, Events)
    return [event.message for event in ctx.on_event]


def deploy(ctx: Context) -> dict[str, Any]:
    """The deploy section, as the record keeps it."""
    result: PhaseResult = DockerDeploy().run(ctx)
    assert isinstance(result.section, DeploySection) and result.status == "ok"
    assert result.detail == {"container": result.section.revision, "url": result.section.url}
    return result.section.model_dump(mode="json")


def deploy_fails(ctx: Context, kind: str) -> LoopctlError:
    with pytest.raises(LoopctlError) as caught:
        DockerDeploy().run(ctx)
    assert caught.value.kind == kind, caught.value.message
    return caught.value


def health_status(url: str) -> int:
    with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
        return int(response.status)


def test_deploy_runs_the_image_and_the_service_answers_a_chat(
    tmp_path: Path, engine: Any, image: str, project: str, secret: str
) -> None:
    ctx = make_ctx(tmp_path, project, image=image, port=8080, env={"JWT_SECRET": EnvRef(env=SECRET_VAR)})
    section = deploy(ctx)

    container = engine.containers.get(section["container_id"])
    assert container.status == "running" and container.labels["loopctl.iteration"] == "1"
    assert container.attrs["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    assert section["revision"] == section["container_id"][:12] and section["replaced"] is None
    assert section["target"] == "docker" and section["image"] == image and section["env"] == ["JWT_SECRET", "PORT"]
    assert section["url"].startswith("http://127.0.0.1:") and health_status(section["url"]) == 200

    token = Secret(mint_jwt(secret, {"sub": "probe"}), source="test")
    ws_url = section["url"].replace("http://", "ws://") + "/ws"
    send = {"type": "user_message", "payload": {"content": "hello"}}
    probe = run_check_sync(Check(url=ws_url, send=send, expect_events=EVENTS, token=token, timeout=15, hold=0))
    assert probe.passed, probe.outcome
    assert probe.events_seen == EVENTS

    written = json.dumps(section) + "\n".join(messages(ctx))
    assert secret not in written and "JWT_SECRET" in written


def test_a_second_deploy_replaces_the_first_container(tmp_path: Path, engine: Any, image: str, project: str) -> None:
    import docker.errors

    first = deploy(make_ctx(tmp_path, project, name=f"{project}-replace", image=image, env={"JWT_SECRET": "x"}))
    ctx = make_ctx(tmp_path, project, name=f"{project}-replace", image=image, number=2, env={"JWT_SECRET": "y"})
    second = deploy(ctx)

    assert second["replaced"] == first["revision"] and second["container_id"] != first["container_id"]
    finish_retiring()  # the old one is stopped and removed beside whatever comes next
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(first["container_id"])
    assert engine.containers.get(f"{project}-replace").id == second["container_id"]
    assert health_status(second["url"]) == 200
    assert any(first["revision"] in line for line in messages(ctx))


def test_the_name_is_handed_over_at_once_and_the_old_container_retired_in_the_background(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    name = f"{project}-handover"
    first = deploy(make_ctx(tmp_path, project, name=name, image=image, env={"JWT_SECRET": "x"}))
    second = deploy(make_ctx(tmp_path, project, name=name, image=image, number=2, env={"JWT_SECRET": "y"}))
    assert engine.containers.get(name).id == second["container_id"]
    finish_retiring()
    names = [c.name for c in engine.containers.list(all=True, filters={"label": f"loopctl.project={project}"})]
    assert names.count(name) == 1 and not any("-retired-" in found for found in names)
    labels = {"loopctl.project": project, "loopctl.service": name}
    leftover = engine.containers.run(image, name=f"{name}-retired-abc", detach=True, labels=labels)
    # A service of its own whose name only looks like a successor's: never this deploy's to remove.
    neighbour = engine.containers.create(image, name=f"{name}-next-1", labels={"loopctl.project": project})
    third = deploy(make_ctx(tmp_path, project, name=name, image=image, number=3, env={"JWT_SECRET": "z"}))
    finish_retiring()
    with pytest.raises(docker.errors.NotFound):  # an unfinished retirement is finished by the next deploy
        engine.containers.get(leftover.id)
    assert engine.containers.get(neighbour.id).name == f"{name}-next-1"
    assert third["replaced"] == second["revision"] and health_status(third["url"]) == 200
    assert first["revision"] != third["revision"]


def test_the_deploy_returns_while_the_replaced_container_is_still_stopping(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    """The old container ignores SIGTERM, so its stop takes the whole grace: the deploy must not wait for it."""
    name = f"{project}-slow-stop"
    stubborn = ["sh", "-c", "trap '' TERM; exec python -m http.server 8080"]  # SIG_IGN survives the exec
    first = deploy(make_ctx(tmp_path, project, name=name, image=image, command=stubborn))
    second = deploy(make_ctx(tmp_path, project, name=name, image=image, number=2, env={"JWT_SECRET": "y"}))
    old = engine.containers.get(first["container_id"])  # within the grace of STOP_TIMEOUT_S: not stopped yet
    assert old.name.startswith(f"{name}-retired-") and old.status == "running", (old.name, old.status)
    assert engine.containers.get(name).id == second["container_id"]
    finish_retiring()
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(first["container_id"])


def test_a_successor_that_exits_leaves_the_previous_container_serving(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    name = f"{project}-keep-serving"
    first = deploy(make_ctx(tmp_path, project, name=name, image=image, env={"JWT_SECRET": "x"}))
    ctx = make_ctx(tmp_path, project, name=name, image=image, number=2, env={"FAULT": "bogus"})
    err = deploy_fails(ctx, "container_exited")

    assert "exited with code 2" in err.message and "FAULT must be one of" in err.message
    serving = f"the previous container {name} ({first['revision']}, iteration 1) still serves on {first['url']}"
    assert serving in err.message and "docker logs" not in err.hint
    assert engine.containers.get(name).id == first["container_id"] and health_status(first["url"]) == 200
    assert [c.name for c in engine.containers.list(all=True, filters={"name": name})] == [name]
    assert "FAULT must be one of" in ctx.store.artifact_path(2, "deploy.log").read_text()


def test_a_fixed_host_port_restores_the_previous_container_when_its_successor_fails(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    name, host_port = f"{project}-fixed", realparts.free_port()
    first = deploy(make_ctx(tmp_path, project, name=name, image=image, host_port=host_port, env={"JWT_SECRET": "x"}))
    ctx = make_ctx(tmp_path, project, name=name, image=image, number=2, host_port=host_port, env={"FAULT": "bogus"})
    err = deploy_fails(ctx, "container_exited")

    url = f"http://127.0.0.1:{host_port}"
    assert f"({first['revision']}, iteration 1) was started again and serves on {url}" in err.message
    assert engine.containers.get(name).id == first["container_id"] and health_status(url) == 200
    third = deploy(make_ctx(tmp_path, project, name=name, image=image, number=3, host_port=host_port))
    assert third["replaced"] == first["revision"] and third["url"] == url and health_status(url) == 200
    assert engine.containers.get(name).id == third["container_id"]


def test_an_unchanged_deploy_reuses_the_running_container(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    name = f"{project}-reuse"
    first = deploy(make_ctx(tmp_path, project, name=name, image=image, env={"JWT_SECRET": "x"}))
    again = deploy(make_ctx(tmp_path, project, name=name, image=image, number=2, env={"JWT_SECRET": "x"}))
    forced_ctx = make_ctx(tmp_path, project, name=name, image=image, number=3, env={"JWT_SECRET": "x"})
    forced_ctx.options = replace(forced_ctx.options, no_cache=True)
    forced = deploy(forced_ctx)
    assert again["reused"] is True and again["container_id"] == first["container_id"]
    assert forced["reused"] is False and forced["replaced"] == first["revision"]
    assert health_status(forced["url"]) == 200


def test_an_unchanged_deploy_is_reused_through_the_sdk_when_the_socket_cannot_be_asked(
    tmp_path: Path, engine: Any, image: str, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOCKER_HOST naming a remote engine: the plain socket read is not possible, the SDK reads the same container."""
    from loopctl.clients import docker_engine

    name = f"{project}-reuse-sdk"
    first = deploy(make_ctx(tmp_path, project, name=name, image=image, env={"JWT_SECRET": "x"}))

    def no_socket(path: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        raise docker_engine.EngineUnavailable(path)

    monkeypatch.setattr(docker_engine, "engine_get", no_socket)
    again = deploy(make_ctx(tmp_path, project, name=name, image=image, number=2, env={"JWT_SECRET": "x"}))
    assert again["reused"] is True and again["container_id"] == first["container_id"]
    assert again["image_id"] == first["image_id"] and again["url"] == first["url"]
    # A stopped container of that name is not reused: it is replaced.
    engine.containers.get(name).stop(timeout=1)
    third = deploy(make_ctx(tmp_path, project, name=name, image=image, number=3, env={"JWT_SECRET": "x"}))
    assert third["reused"] is False and third["container_id"] != first["container_id"]


def test_an_image_that_cannot_be_pulled_leaves_the_running_container_alone(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    running = deploy(make_ctx(tmp_path, project, name=f"{project}-keep", image=image))
    missing = "127.0.0.1:1/nobody/agent-service:missing"
    err = deploy_fails(make_ctx(tmp_path, project, name=f"{project}-keep", image=missing), "image_not_found")

    assert missing in err.message and "registry" in err.hint
    assert engine.containers.get(running["container_id"]).status == "running"


def test_a_container_that_exits_fails_with_its_code_and_stderr(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    ctx = make_ctx(tmp_path, project, image=image, env={"FAULT": "bogus"})
    err = deploy_fails(ctx, "container_exited")

    assert "exited with code 2" in err.message
    assert "FAULT must be one of" in err.message
    log = ctx.store.artifact_path(1, "deploy.log")
    assert "FAULT must be one of" in log.read_text()


def test_the_log_of_a_failed_container_is_redacted(
    tmp_path: Path, engine: Any, image: str, project: str, secret: str
) -> None:
    command = ["sh", "-c", 'echo "leaked=$JWT_SECRET" >&2; exit 3']
    ctx = make_ctx(tmp_path, project, image=image, command=command, env={"JWT_SECRET": EnvRef(env=SECRET_VAR)})
    err = deploy_fails(ctx, "container_exited")

    assert "exited with code 3" in err.message and "leaked=***" in err.message
    log = ctx.store.artifact_path(1, "deploy.log").read_text()
    assert "leaked=***" in log
    assert secret not in err.message + log + "\n".join(messages(ctx))


def test_a_container_that_never_listens_fails_at_the_deadline(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    ctx = make_ctx(tmp_path, project, image=image, command=["sleep", "120"], ready_timeout=1.5)
    began = time.monotonic()
    err = deploy_fails(ctx, "not_listening")

    assert 1.5 <= time.monotonic() - began < 6
    assert "nothing answers on 127.0.0.1:" in err.message and "0.0.0.0" in err.hint
    assert ctx.store.artifact_path(1, "deploy.log").exists()


def test_an_app_listening_on_another_port_fails_at_once_naming_both_ports(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    ctx = make_ctx(tmp_path, project, image=image, command=["python", "-m", "http.server", "8483"], ready_timeout=30)
    err = deploy_fails(ctx, "wrong_port")

    assert "it listens on port 8483 (its listening sockets), not on 8080" in err.message
    assert "deploy.docker.port" in err.message and "deploy.docker.port: 8483" in err.hint
    assert ctx.store.artifact_path(1, "deploy.log").exists()


def test_an_app_listening_on_loopback_inside_the_container_fails_at_once(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    command = ["python", "-m", "http.server", "--bind", "127.0.0.1", "8080"]
    err = deploy_fails(make_ctx(tmp_path, project, image=image, command=command, ready_timeout=30), "wrong_port")

    assert "it listens on 127.0.0.1:8080 inside the container" in err.message
    assert "0.0.0.0:$PORT (8080)" in err.hint


def test_an_ipv6_socket_on_ipv4_loopback_is_loopback_too(tmp_path: Path, engine: Any, image: str, project: str) -> None:
    """A JVM binds 127.0.0.1 with an IPv6 socket: /proc/net/tcp6 then shows ::ffff:127.0.0.1, which is loopback."""
    serve = (
        "import http.server, socket\n"
        "class Server(http.server.HTTPServer):\n"
        "    address_family = socket.AF_INET6\n"
        "Server(('::ffff:127.0.0.1', 8080), http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    ctx = make_ctx(tmp_path, project, image=image, command=["python", "-c", serve], ready_timeout=30)
    err = deploy_fails(ctx, "wrong_port")

    assert "it listens on ::ffff:127.0.0.1:8080 inside the container" in err.message
    assert "0.0.0.0:$PORT (8080)" in err.hint


def test_without_a_readable_socket_table_the_log_names_the_port(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    # No `cat` in the image: the socket table cannot be read, and the log's "Serving HTTP on … port 8483" says it.
    command = ["sh", "-c", "rm -f /usr/bin/cat /bin/cat; exec python -u -m http.server 8483"]
    err = deploy_fails(make_ctx(tmp_path, project, image=image, command=command, ready_timeout=30), "wrong_port")

    assert "it listens on port 8483 (its log), not on 8080" in err.message


def test_a_pushed_digest_is_pulled_when_the_engine_lacks_it(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    import docker.errors

    with realparts.start_registry(tmp_path / "registry") as registry:
        repository = f"{registry.address}/deploy/agent-service"
        engine.images.get(image).tag(repository, "v1")
        for _ in engine.api.push(repository, tag="v1", stream=True, decode=True):
            pass
        pinned = f"{repository}@{registry.manifest_digest('deploy/agent-service', 'v1')}"
        engine.images.remove(f"{repository}:v1")  # takes the digest reference with it
        with pytest.raises(docker.errors.ImageNotFound):
            engine.images.get(pinned)
        ctx = make_ctx(tmp_path, project, env={"JWT_SECRET": "x"})
        ctx.sections.fill(PushSection(pinned=pinned))
        try:
            section = deploy(ctx)
        finally:
            engine.images.remove(pinned)

    assert section["image"] == pinned and section["image_id"] == engine.images.get(image).id
    assert f"pulling {pinned}" in messages(ctx)
    assert health_status(section["url"]) == 200


def test_no_engine_names_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    err = deploy_fails(make_ctx(tmp_path, "t", image=TAG), "engine_unreachable")

    assert err.message.startswith("no Docker engine at tcp://127.0.0.1:1")
    assert "DOCKER_HOST" in err.hint


def test_nothing_to_deploy_without_an_image(tmp_path: Path) -> None:
    err = deploy_fails(make_ctx(tmp_path, "t"), "no_image")

    assert "--image" in err.hint


def test_port_comes_from_the_port_setting_only() -> None:
    with pytest.raises(ValidationError, match=r"deploy\.docker\.port"):
        DockerDeployConfig(name="x", env={"PORT": "9000"})


REUSE_IN_A_FRESH_PROCESS = """
import json, sys
from pathlib import Path
from loopctl.config import Config, DeployConfig, DockerDeployConfig
from loopctl.phases.docker.deploy import STOP_TIMEOUT_S, DockerDeploy
from loopctl.records.store import Store
from loopctl.phases.base import Context, RunOptions

folder, project, name, image = sys.argv[1:5]
spec = DockerDeployConfig(name=name, env={"JWT_SECRET": "x"})
config = Config(project=project, iterations_dir=folder, deploy=DeployConfig(target="docker", docker=spec))
ctx = Context(config, Store(Path(folder)), 2, lambda event: None, RunOptions(image=image))
section = DockerDeploy().run(ctx).section
heavy = sorted(name for name in ("docker", "requests", "urllib3") if name in sys.modules)
print(json.dumps({"reused": section.reused, "container_id": section.container_id, "heavy": heavy}))
"""


def test_reusing_the_running_container_never_loads_the_docker_sdk(
    tmp_path: Path, engine: Any, image: str, project: str
) -> None:
    import json
    import subprocess
    import sys

    name = f"{project}-plain"
    first = deploy(make_ctx(tmp_path, project, name=name, image=image, env={"JWT_SECRET": "x"}))
    done = subprocess.run(
        [sys.executable, "-c", REUSE_IN_A_FRESH_PROCESS, str(tmp_path), project, name, image],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"reused": True, "container_id": first["container_id"], "heavy": []}
