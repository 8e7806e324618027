"""Deploys that meet a throttled or stuck Cloud Run API, and a container that dies once it is ready."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import (
    EXIT_CHECKS,
    EXIT_DEPLOY,
    HEALTH_CHECK,
    JWT_AUTH,
    JWT_SECRET,
    assert_complete,
    assert_no_traceback,
    chat_check,
    iterate,
    phase,
    write_config,
)
from tests.support.cloudrun_emulator import CloudRunEmulator
from tests.support.realparts import docker_client, throwaway_container_name

PROJECT, REGION = "rel-proj", "europe-west1"


@pytest.fixture
def emulator() -> Iterator[CloudRunEmulator]:
    with CloudRunEmulator(startup_timeout_s=20) as running:
        running.secrets["jwt-secret"] = JWT_SECRET  # the service reads it from Secret Manager
        yield running


def cloudrun_config(folder: Path, emulator: CloudRunEmulator, service: str, *, ready_timeout: float = 60) -> None:
    write_config(
        folder,
        f"""\
project: reliability
deploy:
  target: cloudrun
  cloudrun:
    project: {PROJECT}
    region: {REGION}
    service: {service}
    api_endpoint: "{emulator.endpoint}"
    ready_timeout: {ready_timeout:g}
    public: true
    env: {{JWT_SECRET: {{secret: jwt-secret}}}}
probe:
  checks:
{HEALTH_CHECK}""",
    )


def test_429_and_503_bursts_are_retried_visibly_and_the_deploy_succeeds(
    tmp_path: Path, emulator: CloudRunEmulator, agent_image: str
) -> None:
    cloudrun_config(tmp_path, emulator, "throttled")
    emulator.fail_next(429)
    emulator.fail_next(503)
    done = iterate(tmp_path, "--ci", "--image", agent_image)
    assert done.returncode == 0, done.stderr
    record = assert_complete(tmp_path, 1, status="success", phases=[("deploy", "ok"), ("probe", "ok")])
    assert re.fullmatch(r"throttled-00001-[a-z]{3}", record["deploy"]["revision"])
    retries = [line for line in done.stderr.splitlines() if " — retry " in line]
    assert len(retries) == 2, done.stderr
    assert "429" in retries[0] and "retry 1/5" in retries[0]
    assert "503" in retries[1] and "retry 2/5" in retries[1]
    assert emulator.requests[0] == emulator.requests[1] == emulator.requests[2]  # the same read, retried twice


def test_an_operation_that_never_ends_is_a_deploy_timeout_exit_4(
    tmp_path: Path, emulator: CloudRunEmulator, agent_image: str
) -> None:
    cloudrun_config(tmp_path, emulator, "stuck", ready_timeout=2)
    emulator.stall_operations = True
    done = iterate(tmp_path, "--ci", "--image", agent_image, timeout=60)
    assert done.returncode == EXIT_DEPLOY, done.stderr
    record = assert_complete(
        tmp_path,
        1,
        status="failed",
        phases=[("deploy", "failed"), ("probe", "skipped")],
    )
    deploy = phase(record, "deploy")
    assert deploy["error"]["kind"] == "deploy_timeout" and "2s deadline" in deploy["error"]["message"]
    assert 1.5 <= deploy["duration_s"] < 10
    assert phase(record, "probe")["detail"] == {"reason": "after deploy failed"}
    assert_no_traceback(done.stderr)


# The service, started as usual, dies (SIGKILL-like: no close frame) half a second into its first WebSocket.
CRASH_AFTER_CONNECT = """\
import asyncio, json, os, runpy
import agent_service.server as server
async def crash(connection, settings):
    await connection.send(json.dumps({"type": "agent_started", "data": {}}))
    await asyncio.sleep(0.5)
    os._exit(70)
server.converse = crash
runpy.run_module("agent_service", run_name="__main__")
"""


@pytest.fixture
def container_name() -> Iterator[str]:
    yield from throwaway_container_name("loopctl-rel")


def test_a_container_that_crashes_after_it_is_ready_fails_the_probe_not_the_deploy(
    tmp_path: Path, agent_image: str, container_name: str
) -> None:
    command = ["python3", "-c", CRASH_AFTER_CONNECT]
    write_config(
        tmp_path,
        f"""\
project: reliability
deploy:
  target: docker
  docker: {{name: {container_name}, env: {{JWT_SECRET: {{env: DEMO_JWT_SECRET}}}}, command: {json.dumps(command)}}}
probe:
  checks:
{chat_check(auth=JWT_AUTH)}""",
    )
    done = iterate(tmp_path, "--ci", "--image", agent_image)
    assert done.returncode == EXIT_CHECKS, done.stderr
    record = assert_complete(
        tmp_path,
        1,
        status="failed",
        phases=[("deploy", "ok"), ("probe", "failed")],
    )
    outcome = record["checks"][0]["outcome"]
    # The container was listening and accepted the upgrade; its process then vanished without a close frame.
    assert (outcome["category"], outcome["code"], outcome["origin"], outcome["depth"]) == (
        "abnormal_closure",
        1006,
        None,
        3,
    )
    assert record["checks"][0]["events_seen"] == ["agent_started"]
    assert record["outcome"] == outcome
    assert docker_client().containers.get(container_name).status == "exited"
