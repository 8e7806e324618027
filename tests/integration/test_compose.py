"""deploy.target: compose end to end: a real engine, a real registry and the real Compose CLI run a two-service
project (a WebSocket api loopctl builds, a value store Compose builds), probe it, and read the api's log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopctl.config.model import ComposeDeployConfig
from loopctl.phases.compose.cli import ComposeFiles, compose_command, services_in, up
from loopctl.phases.compose.deploy import project_name, write_override
from tests.support import realparts
from tests.support.realparts import RegistryHandle, start_registry

# The value store: answers every connection with one line, the value it was started with.
STORE = """\
import os, socketserver, time

time.sleep(float(os.environ.get("STORE_DELAY", "0")))  # a slow start: only its health check says when it is up

class Answer(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write((os.environ["STORE_VALUE"] + "\\n").encode())

socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 6379), Answer).serve_forever()
"""

# The api: on a user message it says it started, reads the store over the project network, and completes;
# a store that answers `error: …` makes the handler raise (a 1011 and a traceback in its log).
API = """\
import asyncio, json, logging, os, websockets

logging.basicConfig(level=logging.INFO)

async def chat(ws, path):
    await ws.recv()
    await ws.send(json.dumps({"type": "agent_started"}))
    host, port = os.environ["STORE_ADDR"].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    value = (await reader.readline()).decode().strip()
    writer.close()
    if value.startswith("error:"):
        raise RuntimeError(f"the store failed: {value}")
    await ws.send(json.dumps({"type": "agent_completed", "value": value}))

async def main():
    async with websockets.serve(chat, "0.0.0.0", int(os.environ["PORT"])):
        await asyncio.Future()

asyncio.run(main())
"""

COMPOSE = """\
services:
  store:
    build: ./store
    environment: {{STORE_VALUE: "{value}", STORE_DELAY: "3"}}
    healthcheck:
      test: ["CMD", "python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 6379), 1)"]
      interval: 1s
      retries: 30
  api:
    image: shop-api-placeholder
    depends_on: [store]
    environment: {{STORE_ADDR: "store:6379", PORT: "8080"}}
    ports: ["127.0.0.1::8080"]
"""

CONFIG = """\
project: {project}
build:
  context: api
  image: {registry}/shop-api
  args: {{BASE_IMAGE: {base}}}
push: {{auth: none}}
deploy:
  target: compose
  compose: {{file: docker-compose.yml, service: api, port: 8080, ready_timeout: 60}}
probe:
  checks:
    - name: chat
      priority: 1
      websocket:
        path: /ws
        send: {{type: user_message}}
        expect_events: [agent_started, agent_completed]
        timeout: 15
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    yield from realparts.engine_with_base_image()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    with start_registry(tmp_path_factory.mktemp("registry")) as handle:
        yield handle


def write_project(folder: Path, registry: RegistryHandle, *, value: str = "forty-two") -> str:
    """The project's sources, its Compose file and its config.yaml; its name, unique to this run."""
    project = f"shop-{uuid.uuid4().hex[:8]}"
    (folder / "store").mkdir(parents=True)
    (folder / "store" / "store.py").write_text(STORE)
    (folder / "store" / "Dockerfile").write_text(
        f'FROM {realparts.BASE_IMAGE}\nCOPY store.py /store.py\nCMD ["python3", "-u", "/store.py"]\n'
    )
    (folder / "api").mkdir()
    (folder / "api" / "app.py").write_text(API)
    (folder / "api" / "Dockerfile").write_text(
        'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY app.py /app.py\nCMD ["python3", "-u", "/app.py"]\n'
    )
    (folder / "docker-compose.yml").write_text(COMPOSE.format(value=value))
    config = CONFIG.format(project=project, registry=registry.address, base=realparts.BASE_IMAGE)
    (folder / "config.yaml").write_text(config)
    return project


def compose_down(folder: Path, project: str) -> None:
    """Everything the project started, its networks and the images Compose built for it, gone."""
    files = ["-f", str(folder / "docker-compose.yml")]
    argv = [*compose_command(), "-p", project_name(project), *files, "down", "-v", "--rmi", "local"]
    subprocess.run(argv, capture_output=True, timeout=120, check=False)


def iterate(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`loopctl iterate --json ARGS` in `folder`, as a user runs it; the run and its envelope."""
    environ = {key: value for key, value in os.environ.items() if key not in ("GITHUB_STEP_SUMMARY", "CI")}
    done = subprocess.run(
        [sys.executable, "-m", "loopctl", "iterate", "--json", "--config", str(folder / "config.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**environ, **(env or {})},
        cwd=folder,
        check=False,
    )
    return done, json.loads(done.stdout)


def record(folder: Path, number: int) -> dict[str, Any]:
    return dict(json.loads((folder / "iterations" / f"{number:04d}.json").read_text()))


def failed_deploy(
    folder: Path, project: str, *, code: int = 4, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """The first iteration of a project whose deploy fails with exit `code` (Compose's project taken down after):
    its deploy phase and the run."""
    try:
        done, _ = iterate(folder, env=env)
    finally:
        compose_down(folder, project)
    assert done.returncode == code, done.stderr
    return next(phase for phase in record(folder, 1)["phases"] if phase["name"] == "deploy"), done


def failed_with(
    folder: Path, registry: RegistryHandle, compose: str, *, code: int = 4
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """`failed_deploy` of a fresh project whose Compose file is `compose`."""
    project = write_project(folder, registry)
    (folder / "docker-compose.yml").write_text(compose)
    return failed_deploy(folder, project, code=code)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, engine: Any, registry: RegistryHandle) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("shop")
    project = write_project(folder, registry)
    yield folder, project
    compose_down(folder, project)


def test_the_project_runs_through_compose_with_the_built_image_pinned_by_digest(
    shop: tuple[Path, str], engine: Any
) -> None:
    folder, project = shop
    done, envelope = iterate(folder)
    assert done.returncode == 0, done.stderr
    first = record(folder, 1)
    assert first["status"] == "success" and first["checks"][0]["passed"]
    assert first["checks"][0]["events_seen"] == ["agent_started", "agent_completed"]

    pinned = first["push"]["pinned"]
    deploy = first["deploy"]
    assert "@sha256:" in pinned and deploy["image"] == pinned and deploy["target"] == "compose"
    assert deploy["service"] == "api" and deploy["compose_project"] == f"loopctl-{project}"
    override = folder / "iterations" / "0001.compose-override.yml"
    assert pinned in override.read_text()
    assert "shop-api-placeholder" in (folder / "docker-compose.yml").read_text()  # the user's file is untouched

    api = engine.containers.get(deploy["container_id"])
    assert api.labels["com.docker.compose.project"] == f"loopctl-{project}"
    assert api.image.id == first["build"]["image_id"] == deploy["image_id"]
    store = engine.containers.list(filters={"label": f"com.docker.compose.project=loopctl-{project}"})
    assert {container.labels["com.docker.compose.service"] for container in store} == {"api", "store"}
    assert envelope["exit_code"] == 0 and envelope["data"]["status"] == "success"


def test_a_broken_store_fails_the_check_and_the_api_log_names_the_cause(shop: tuple[Path, str]) -> None:
    folder, _ = shop
    (folder / "docker-compose.yml").write_text(COMPOSE.format(value="error: disk full"))
    done, _ = iterate(folder)
    assert done.returncode == 1, done.stderr
    second = record(folder, 2)
    check = second["checks"][0]
    assert not check["passed"] and check["events_seen"] == ["agent_started"]
    assert check["outcome"]["code"] == 1011
    # Read from the api container's own log, through the engine.
    assert check["server_error"]["type"] == "RuntimeError"
    assert "the store failed: error: disk full" in check["server_error"]["message"]
    assert second["deploy"]["reused"] is True  # the api's pin did not change: Compose kept its container


def test_a_rebuilt_api_is_a_new_container_and_its_evidence_is_read_from_that_one(shop: tuple[Path, str]) -> None:
    folder, _ = shop
    (folder / "api" / "app.py").write_text(API.replace("the store failed:", "the rebuilt api's store failed:"))
    done, _ = iterate(folder)
    assert done.returncode == 1, done.stderr
    second, third = record(folder, 2), record(folder, 3)
    assert third["deploy"]["reused"] is False
    assert third["deploy"]["container_id"] != second["deploy"]["container_id"]
    assert "the rebuilt api's store failed: error: disk full" in third["checks"][0]["server_error"]["message"]


def test_a_hundred_services_are_read_and_one_named_like_an_option_is_pinned_and_started(
    tmp_path: Path, engine: Any
) -> None:
    odd = "-Api.v2_1"  # Compose allows a leading '-': on a command line it reads like an option
    assert ComposeDeployConfig(service=odd).service_for("api") == odd
    others = "".join(f"  s{number:03d}:\n    image: placeholder\n" for number in range(100))
    compose = f"services:\n  {odd}:\n    image: placeholder\n    command: [sleep, '600']\n{others}"
    (tmp_path / "docker-compose.yml").write_text(compose)
    files = ComposeFiles(f"loopctl-odd-{uuid.uuid4().hex[:8]}", tmp_path / "docker-compose.yml")
    assert sorted(services_in(files)) == sorted([odd, *(f"s{number:03d}" for number in range(100))])
    pinned = replace(files, override=write_override(tmp_path / "override.yml", odd, realparts.BASE_IMAGE))
    argv = [*compose_command(), *pinned.args(), "config"]
    merged = yaml.safe_load(subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout)
    assert merged["services"][odd]["image"] == realparts.BASE_IMAGE
    assert merged["services"]["s042"]["image"] == "placeholder"
    try:
        up(pinned, [odd], tmp_path / "compose.log")
        started = engine.containers.list(filters={"label": f"com.docker.compose.project={files.project}"})
    finally:
        subprocess.run([*compose_command(), *pinned.args(), "down"], capture_output=True, timeout=120, check=False)
    assert [container.labels["com.docker.compose.service"] for container in started] == [odd]


def test_a_compose_file_that_does_not_parse_is_a_usage_error_with_composes_message(
    tmp_path: Path, engine: Any, registry: RegistryHandle
) -> None:
    deploy, done = failed_with(tmp_path, registry, "services:\n  api: [\n", code=2)
    assert deploy["status"] == "failed" and deploy["error"]["kind"] == "usage"
    message = deploy["error"]["message"]
    assert message.startswith("Compose cannot read docker-compose.yml: ") and "while parsing" in message
    assert message.endswith("line 3, column 1")  # every line Compose wrote, none of them with a level prefix
    assert "\n" not in message
    assert json.loads(done.stdout)["exit_code"] == 2


def test_an_unhealthy_companion_fails_the_deploy_at_once_with_its_log(
    tmp_path: Path, engine: Any, registry: RegistryHandle
) -> None:
    sick = "\"import sys; print('store is sick'); sys.exit(1);"
    failing = COMPOSE.format(value="1").replace('"import socket;', sick).replace("retries: 30", "retries: 1")
    deploy, _ = failed_with(tmp_path, registry, failing)
    assert deploy["error"]["kind"] == "not_listening"
    assert deploy["error"]["message"].startswith("compose service store (")
    assert "is unhealthy; its health check said: store is sick" in deploy["error"]["message"]


def test_a_failing_up_is_one_line_of_composes_own_message_with_secrets_masked(
    tmp_path: Path, engine: Any, registry: RegistryHandle
) -> None:
    secret = uuid.uuid4().hex
    project = write_project(tmp_path, registry)
    # A companion image nobody can pull, whose name happens to hold a secret the config reads: Compose prints it.
    compose = COMPOSE.format(value="1").replace("build: ./store", f"image: 127.0.0.1:1/store-{secret}:v1")
    (tmp_path / "docker-compose.yml").write_text(compose)
    config = (tmp_path / "config.yaml").read_text()
    auth = "auth: {type: bearer, token: {env: COMPOSE_TEST_TOKEN}}\n        send:"
    (tmp_path / "config.yaml").write_text(config.replace("send:", auth))
    deploy, done = failed_deploy(tmp_path, project, env={"COMPOSE_TEST_TOKEN": secret})
    message = deploy["error"]["message"]
    assert deploy["error"]["kind"] == "container_start" and "\n" not in message
    assert message.startswith(f"Compose could not start the project loopctl-{project}: ")
    assert message.endswith("connect: connection refused") and "Pulling store (127.0.0.1:1/store-***:v1)" in message
    written = [done.stdout, done.stderr] + [path.read_text() for path in (tmp_path / "iterations").iterdir()]
    assert not any(secret in text for text in written)
    assert (tmp_path / "iterations" / "0001.compose.log").is_file()


SERVICES_CONFIG = """\
project: {project}
services:
  store:
    deploy: &compose {{target: compose, compose: {{file: docker-compose.yml, service: {{store: cache, api: web}}}}}}
  api:
    depends_on: [store]
    build: {{context: api, image: {registry}/shop-api, args: {{BASE_IMAGE: {base}}}}}
    push: {{auth: none}}
    deploy: *compose
    probe:
      checks:
        - name: chat
          websocket: {{path: /ws, send: {{type: user_message}}, expect_events: [agent_started, agent_completed]}}
"""


def test_several_services_each_start_their_compose_service_in_dependency_order(
    tmp_path: Path, engine: Any, registry: RegistryHandle
) -> None:
    project = write_project(tmp_path, registry)
    renamed = COMPOSE.format(value="from-the-cache").replace("  store:", "  cache:").replace("  api:", "  web:")
    (tmp_path / "docker-compose.yml").write_text(
        renamed.replace("[store]", "[cache]").replace("store:6379", "cache:6379")
    )
    config = SERVICES_CONFIG.format(project=project, registry=registry.address, base=realparts.BASE_IMAGE)
    (tmp_path / "config.yaml").write_text(config)
    try:
        done, _ = iterate(tmp_path)
        running = engine.containers.list(filters={"label": f"com.docker.compose.project={project_name(project)}"})
    finally:
        compose_down(tmp_path, project)
    assert done.returncode == 0, done.stderr
    first = record(tmp_path, 1)
    assert first["status"] == "success" and first["checks"][0]["service"] == "api"
    store, api = first["services"]["store"]["deploy"], first["services"]["api"]["deploy"]
    assert (store["service"], api["service"]) == ("cache", "web")
    assert store["target"] == api["target"] == "compose" and store.get("url") is None  # the cache publishes no port
    assert api["image"] == first["services"]["api"]["push"]["pinned"]
    assert {c.labels["com.docker.compose.service"]: c.id for c in running} == {
        "cache": store["container_id"],
        "web": api["container_id"],
    }
    assert (tmp_path / "iterations" / "0001.api.compose-override.yml").is_file()
    assert not (tmp_path / "iterations" / "0001.store.compose-override.yml").exists()  # nothing of it is built


def test_without_a_compose_cli_the_deploy_fails_saying_what_to_install(
    tmp_path: Path, engine: Any, registry: RegistryHandle
) -> None:
    write_project(tmp_path, registry)
    bare = tmp_path / "bin"  # a PATH with neither `docker` nor `docker-compose` on it
    bare.mkdir()
    done, _ = iterate(tmp_path, "--skip", "build,push", env={"PATH": str(bare)})
    assert done.returncode == 4, done.stderr
    deploy = next(phase for phase in record(tmp_path, 1)["phases"] if phase["name"] == "deploy")
    assert deploy["error"]["message"].startswith("no Compose CLI: neither the `docker compose` plugin nor")
    assert "apt-get install docker-compose" in deploy["error"]["hint"]


def test_the_deployed_service_exiting_fails_the_deploy_at_once_with_its_last_lines(
    tmp_path: Path, engine: Any, registry: RegistryHandle
) -> None:
    compose = COMPOSE.format(value="1").replace(
        "    depends_on: [store]\n",
        "    depends_on: [store]\n    command: [python3, -c, \"print('no store address')\"]\n",
    )
    deploy, _ = failed_with(tmp_path, registry, compose)
    assert deploy["error"]["kind"] == "container_exited"
    assert deploy["error"]["message"].startswith("compose service api (")
    assert "exited with code 0; its last lines:\nno store address" in deploy["error"]["message"]


def test_skipping_the_build_of_a_service_loopctl_builds_leaves_nothing_to_deploy(
    tmp_path: Path, engine: Any, registry: RegistryHandle
) -> None:
    write_project(tmp_path, registry)
    done, _ = iterate(tmp_path, "--skip", "build,push")
    assert done.returncode == 4, done.stderr
    deploy = next(phase for phase in record(tmp_path, 1)["phases"] if phase["name"] == "deploy")
    assert deploy["error"]["kind"] == "no_image" and "compose service api" in deploy["error"]["message"]
    assert not (tmp_path / "iterations" / "0001.compose.log").exists()  # Compose was never asked to start it
