"""Server evidence on the docker target: the sample service's container, a real probe, its log read back by window."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopctl.config import BuildConfig, CheckConfig, Config, DeployConfig, DockerDeployConfig
from loopctl.evidence.collect import collect
from loopctl.phases.base import Context, Event, RunOptions
from loopctl.phases.docker.deploy import DockerDeploy
from loopctl.phases.probe import check_record
from loopctl.probe.from_config import build_check
from loopctl.probe.options import run_check_sync
from loopctl.records.record import CheckRecord
from loopctl.records.sections import DeploySection
from loopctl.records.store import Store
from loopctl.secrets.references import EnvRef
from tests.integration.agent_service import EVENTS
from tests.support import realparts

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "agent-service"
SECRET_VAR = "LOOPCTL_TEST_EVIDENCE_SECRET"


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A docker.DockerClient; fails (never skips) when no engine or base image is there."""
    yield from realparts.engine_with_base_image()


@pytest.fixture(scope="module")
def image(engine: Any) -> Iterator[str]:
    tag = f"loopctl-test/agent-service:evidence-{uuid.uuid4().hex[:8]}"
    engine.images.build(path=str(SERVICE), buildargs={"BASE_IMAGE": realparts.BASE_IMAGE}, tag=tag, rm=True)
    yield tag
    engine.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def project(engine: Any) -> Iterator[str]:
    yield from realparts.labelled_project(engine, "loopctl-test-evidence")


def chat_check() -> CheckConfig:
    return CheckConfig.model_validate(
        {
            "name": "chat-events",
            "websocket": {
                "path": "/ws",
                "auth": {"token": {"jwt": {"secret": {"env": SECRET_VAR}, "claims": {"sub": "probe"}}}},
                "send": {"type": "user_message", "payload": {"content": "hello"}},
                "expect_events": list(EVENTS),
                "timeout": 10,
            },
        }
    )


def deploy_and_probe(tmp_path: Path, project: str, image: str, fault: str) -> tuple[Config, DeploySection, CheckRecord]:
    spec = DockerDeployConfig(
        name=f"{project}-{fault}", port=8080, env={"JWT_SECRET": EnvRef(env=SECRET_VAR), "FAULT": fault}
    )
    config = Config(project=project, iterations_dir=str(tmp_path), deploy=DeployConfig(target="docker", docker=spec))
    events: list[Event] = []
    ctx = Context(config, Store(tmp_path), 1, events.append, RunOptions(image=image))
    section = DockerDeploy().run(ctx).section
    assert isinstance(section, DeploySection)
    item = chat_check()
    result = run_check_sync(build_check(item, section.url, {}))
    return config, section, check_record(item, result)


def test_the_1011_is_explained_by_the_services_own_traceback(
    tmp_path: Path, image: str, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VAR, f"evidence-{uuid.uuid4().hex}")
    config, section, check = deploy_and_probe(tmp_path, project, image, "internal")
    assert check.outcome.code == 1011 and check.trace_id and check.started_at and check.finished_at

    evidence = collect(config, section, [check])

    assert evidence.detail["read"] is True and evidence.detail["source"].startswith(f"docker logs of {project}")
    error = evidence.checks[0].server_error
    assert error is not None
    assert (error.type, error.message) == ("TypeError", "user_context must be a UserExecutionContext instance")
    assert error.location is not None and error.location.startswith("app/agent_service/conversation.py:")
    assert error.lines[-1] == "TypeError: user_context must be a UserExecutionContext instance"


def test_a_service_that_logs_nothing_leaves_no_error_but_says_the_log_was_read(
    tmp_path: Path, image: str, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VAR, f"evidence-{uuid.uuid4().hex}")
    config, section, check = deploy_and_probe(tmp_path, project, image, "drop")  # TCP cut, nothing logged
    assert check.outcome.category == "abnormal_closure"

    evidence = collect(config, section, [check])

    assert evidence.detail["read"] is True and "note" not in evidence.detail
    assert evidence.checks[0].server_error is None


def test_a_container_that_is_gone_is_said_in_the_detail(
    tmp_path: Path, engine: Any, image: str, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VAR, f"evidence-{uuid.uuid4().hex}")
    config, section, check = deploy_and_probe(tmp_path, project, image, "auth")
    engine.containers.get(section.container_id).remove(force=True)

    evidence = collect(config, section, [check])

    assert evidence.detail == {"read": False, "note": f"container {section.service} is gone: its log cannot be read"}
    assert evidence.checks == (check,)


def test_the_location_is_the_repo_path_of_the_services_own_file(
    tmp_path: Path, image: str, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VAR, f"evidence-{uuid.uuid4().hex}")
    config, section, check = deploy_and_probe(tmp_path, project, image, "internal")
    built = config.model_copy(update={"build": BuildConfig(context=str(SERVICE), image="agent-service")})

    error = collect(built, section, [check]).checks[0].server_error

    assert error is not None and error.location is not None
    # /app/agent_service/conversation.py in the container is this file of the repo
    assert re.fullmatch(r"examples/agent-service/agent_service/conversation\.py:\d+ in \w+", error.location)
