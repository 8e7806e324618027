"""Ctrl-C and SIGTERM during the probe and the build end as `aborted` (exit 130); SIGKILL never breaks the store."""

from __future__ import annotations

import json
import random
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.agent_service import running_service
from tests.reliability.harness import (
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    JWT_AUTH,
    JWT_SECRET,
    assert_complete,
    assert_no_traceback,
    chat_check,
    iterate,
    iterations,
    phase,
    run_loopctl,
    start_iterate,
    url_config,
    write_config,
)
from tests.support.realparts import BASE_IMAGE, free_port

SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


def assert_lock_released(folder: Path, *skip: str) -> None:
    """A following iterate takes the lock and records the next number (skipping the work, it verifies nothing)."""
    args = ["--skip", ",".join(skip)] if skip else []
    after = iterate(folder, "--ci", *args, timeout=60)
    assert after.returncode == EXIT_INCONCLUSIVE, after.stderr
    assert (iterations(folder) / "0002.json").exists() and (iterations(folder) / "0002.md").exists()


@pytest.mark.parametrize(
    ("signum", "mode"),
    [pytest.param(signal.SIGINT, "--ci", id="SIGINT-ci"), pytest.param(signal.SIGTERM, "--json", id="SIGTERM-json")],
)
def test_an_interrupt_during_the_probe_is_recorded_as_aborted(
    tmp_path: Path, signum: signal.Signals, mode: str
) -> None:
    with running_service(fault="slow", secret=JWT_SECRET, extra_env={"SLOW_DELAY": "30"}) as service:
        write_config(tmp_path, url_config(service.http_url, chat_check(auth=JWT_AUTH, timeout=60)))
        running = start_iterate(tmp_path, mode)
        running.wait_for("probe   started")
        time.sleep(0.5)  # connected, agent_started received, the next event is 30 s away
        began = time.monotonic()
        running.signal(signum)
        code, stdout, stderr = running.finish(timeout=20)
        assert time.monotonic() - began < 10
        assert code == EXIT_INTERRUPTED, stderr
        record = assert_complete(tmp_path, 1, status="aborted", phases=[("deploy", "ok"), ("probe", "aborted")])
        assert phase(record, "probe")["error"]["kind"] == "interrupted"
        assert "iteration 1: aborted" in stderr
        # --json prints the record even for an aborted iteration; human output never goes to stdout.
        assert (json.loads(stdout)["data"] if mode == "--json" else stdout) == (record if mode == "--json" else "")
        assert_no_traceback(stderr)
        assert_lock_released(tmp_path, "probe")
        service.process.kill()  # its graceful stop would wait 5 s for the 30 s event gap


@pytest.mark.parametrize("signum", SIGNALS)
def test_an_interrupt_during_the_build_is_recorded_as_aborted(tmp_path: Path, signum: signal.Signals) -> None:
    context = tmp_path / "slow-build"
    context.mkdir()
    marker = uuid.uuid4().hex  # a RUN line the engine has never cached
    (context / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN echo {marker} && sleep 30\n")
    image = f"127.0.0.1:{free_port()}/slow-build"  # no registry there: the cache lookup fails fast
    write_config(tmp_path, f"project: reliability\nbuild: {{context: {context}, image: {image}}}\n")
    running = start_iterate(tmp_path, "--ci")
    running.wait_for(f"RUN echo {marker}")
    running.wait_for("Running in")
    began = time.monotonic()
    running.signal(signum)
    code, _, stderr = running.finish(timeout=20)
    assert time.monotonic() - began < 10
    assert code == EXIT_INTERRUPTED, stderr
    record = assert_complete(tmp_path, 1, status="aborted", phases=[("build", "aborted")])
    assert phase(record, "build")["error"]["kind"] == "interrupted"
    assert f"RUN echo {marker}" in (iterations(tmp_path) / "0001.build.log").read_text()
    assert_no_traceback(stderr)
    assert_lock_released(tmp_path, "build")


def test_sigkill_at_any_moment_leaves_every_earlier_record_readable(tmp_path: Path) -> None:
    with running_service(secret=JWT_SECRET) as service:
        write_config(tmp_path, url_config(service.http_url, chat_check(auth=JWT_AUTH)))
        began = time.monotonic()
        for _ in range(2):
            assert iterate(tmp_path, "--ci").returncode == 0
        one_run = (time.monotonic() - began) / 2
        chooser = random.Random(20251125)
        for fraction in (0.5, 0.8, 0.9, 0.95, 1.0):
            running = start_iterate(tmp_path, "--ci")
            time.sleep(one_run * fraction * chooser.uniform(0.9, 1.1))
            running.signal(signal.SIGKILL)
            running.finish(timeout=10)
            listed = run_loopctl(tmp_path, "history", "--json", "--last", "100")
            assert listed.returncode == 0, listed.stderr
            assert_no_traceback(listed.stderr)
            assert "warning: skipped" not in listed.stderr  # atomic writes: never half a record
            numbers = [row["number"] for row in json.loads(listed.stdout)["data"]["iterations"]]
            assert numbers[:2] == [1, 2] and numbers == sorted(set(numbers))
            for number in numbers:
                shown = run_loopctl(tmp_path, "report", str(number))
                assert shown.returncode == 0 and shown.stdout.startswith("# "), shown.stderr
        final = iterate(tmp_path, "--ci", "--json")
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["data"]["number"] > max(numbers)
