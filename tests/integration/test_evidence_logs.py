"""Server evidence from logs a service writes against it: a real container per mode, probed by the probe phase."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loopctl.config import Config
from loopctl.phases.probe import ProbePhase
from loopctl.records.store import Store
from loopctl.runner import Context, Event, PhaseResult
from tests.support import realparts

LOG_MODES = Path(__file__).resolve().parents[1] / "fixtures" / "server_apps" / "log_modes.py"

Service = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    yield from realparts.engine_with_base_image()


@pytest.fixture
def service(engine: Any) -> Iterator[Service]:
    """Starts `log_modes.py MODE [MEGABYTES]` in a container; yields the deploy section the probe phase reads."""
    started: list[Any] = []

    def start(mode: str, *args: str) -> dict[str, Any]:
        container = engine.containers.run(
            realparts.BASE_IMAGE,
            ["python3", "-c", LOG_MODES.read_text(), mode, *args],
            detach=True,
            ports={"8080/tcp": ("127.0.0.1", None)},
            labels={"loopctl.test": "evidence-logs"},
        )
        started.append(container)
        container.reload()
        port = container.ports["8080/tcp"][0]["HostPort"]
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url)
        return {"target": "docker", "container_id": container.id, "service": container.name, "url": url}

    yield start
    for container in started:
        container.remove(force=True)


def _wait_ready(url: str) -> None:
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the log service at {url} never answered")


def probe(tmp_path: Path, deploy: dict[str, Any], *, expect_status: int = 200) -> PhaseResult:
    """The probe phase, as `iterate` runs it after a docker deploy, with one HTTP check on /fail."""
    check = {"name": "api", "http": {"path": "/fail", "expect_status": expect_status, "timeout": 30}}
    config = Config.model_validate({"project": "evidence-logs", "probe": {"checks": [check]}})
    events: list[Event] = []
    ctx = Context(config, Store(tmp_path), 1, events.append, sections={"deploy": deploy})
    return ProbePhase().run(ctx)


def test_a_log_line_nested_100k_deep_costs_neither_the_check_nor_the_verdict(tmp_path: Path, service: Service) -> None:
    result = probe(tmp_path, service("deep"))

    assert result.status == "failed"  # the check's verdict (exit 1), not an internal error (exit 5)
    (check,) = result.checks
    assert check.outcome.code == 500 and not check.passed
    evidence = result.detail["evidence"]
    assert evidence["read"] is True
    assert check.server_error is not None
    assert check.server_error.message == "ERROR:app.auth:the upstream answer was nested too deep"
