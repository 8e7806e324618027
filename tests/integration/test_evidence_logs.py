"""Server evidence from logs a service writes against it: a real container per mode, probed by the probe phase."""

from __future__ import annotations

import re
import socket
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loopctl.config import Config
from loopctl.evidence.docker_logs import HEAD_BYTES, TAIL_BYTES, DockerLogs, megabytes
from loopctl.evidence.window import Window
from loopctl.phases.base import Context, Event, PhaseResult
from loopctl.phases.probe import ProbePhase
from loopctl.records.sections import DeploySection, Sections
from loopctl.records.store import Store
from tests.support import realparts

LOG_MODES = Path(__file__).resolve().parents[1] / "fixtures" / "server_apps" / "log_modes.py"

Service = Callable[..., dict[str, Any]]
FLOOD_MB = 40
PEAK_LIMIT = 32 << 20  # the kept head and tail, parsed into lines, and the reader's own buffers


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
    deployed = Sections(deploy=DeploySection.model_validate(deploy))
    ctx = Context(config, Store(tmp_path), 1, events.append, sections=deployed)
    return ProbePhase().run(ctx)


def logged_mb(partial: str) -> float:
    """`the first 1.0 MB and the last 4.0 MB of 7.9 MB logged in the window` → 7.9."""
    found = re.fullmatch(r"the first 1\.0 MB and the last 4\.0 MB of (\d+\.\d) MB logged in the window", partial)
    assert found is not None, partial
    return float(found[1])


def test_a_log_line_nested_100k_deep_costs_neither_the_check_nor_the_verdict(tmp_path: Path, service: Service) -> None:
    result = probe(tmp_path, service("deep"))

    assert result.status == "failed"  # the check's verdict (exit 1), not an internal error (exit 5)
    (check,) = result.checks
    assert check.outcome.code == 500 and not check.passed
    evidence = result.detail["evidence"]
    assert evidence["read"] is True
    assert check.server_error is not None
    assert check.server_error.message == "ERROR:app.auth:the upstream answer was nested too deep"


def test_an_error_before_megabytes_of_info_is_found_and_the_read_says_what_it_held(
    tmp_path: Path, service: Service
) -> None:
    result = probe(tmp_path, service("buried", "6"))

    (check,) = result.checks
    error = check.server_error
    assert error is not None and (error.type, error.message) == ("KeyError", "'user'")
    partial = result.detail["evidence"]["partial"]
    assert logged_mb(partial) > 5  # more than the 1 MB head and 4 MB tail read: the read was cut


def test_a_flooded_window_is_streamed_through_a_bounded_head_and_tail(service: Service) -> None:
    deploy = service("flood", str(FLOOD_MB))
    started = datetime.now(UTC)
    with pytest.raises(urllib.error.HTTPError):  # the 500 comes once the flood is written
        urllib.request.urlopen(f"{deploy['url']}/fail", timeout=60)
    window = Window(started - timedelta(seconds=1), datetime.now(UTC) + timedelta(seconds=1))

    tracemalloc.start()
    try:
        read = DockerLogs(deploy["container_id"]).read(window, enough=lambda lines: True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert logged_mb(read.partial) > FLOOD_MB
    assert peak < PEAK_LIMIT  # less than the window's log itself: it was never all in memory at once
    assert sum(len(line.text) for line in read.lines) < HEAD_BYTES + TAIL_BYTES
    assert [line.text for line in read.lines if line.text.startswith("[… ")] == [
        f"[… {megabytes(int(logged_mb(read.partial) * (1 << 20)) - HEAD_BYTES - TAIL_BYTES)} of log not read …]"
    ]


@pytest.mark.timeout(60)
def test_the_log_is_read_when_the_check_ends_not_when_its_window_does(service: Service) -> None:
    deploy = service("flood", "0")
    now = datetime.now(UTC)
    window = Window(now - timedelta(seconds=5), now + timedelta(minutes=10))  # a window that ends long after now

    read = DockerLogs(deploy["container_id"]).read(window)  # nothing telling in it: read again a moment later

    assert [line.text for line in read.lines] == ["listening on 0.0.0.0:8080"] and not read.partial


def test_a_process_that_exits_on_the_request_is_reported_as_exited_with_its_code(
    tmp_path: Path, service: Service
) -> None:
    result = probe(tmp_path, service("exit"))

    (check,) = result.checks
    assert not check.passed and check.outcome.code is None  # the connection ended without an answer
    process = result.detail["evidence"]["process"]
    assert (process["status"], process["exit_code"], process["oom_killed"], process["restarts"]) == (
        "exited",
        1,
        False,
        0,
    )
    assert process["finished_at"] and process["lines"][-1] == "TypeError: object of type 'NoneType' has no len()"
    assert check.server_error is not None and check.server_error.type == "TypeError"


def test_a_failure_to_read_evidence_keeps_the_checks_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:  # whatever goes wrong while reading evidence, not the checks
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("loopctl.evidence.collect.collect", broken)
    with socket.socket() as unused:  # a port nothing listens on: the check fails at connection
        unused.bind(("127.0.0.1", 0))
        deploy = {"target": "url", "url": f"http://127.0.0.1:{unused.getsockname()[1]}"}
        result = probe(tmp_path, deploy)

    assert result.status == "failed" and len(result.checks) == 1 and not result.checks[0].passed
    note = "evidence unavailable: RecursionError: maximum recursion depth exceeded"
    assert result.detail["evidence"] == {"read": False, "note": note}
