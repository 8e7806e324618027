"""Load probing against the sample service: sessions counted by outcome, latency percentiles, in record and report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loopctl.probe.load import percentile
from loopctl.secrets.jwt import mint_jwt
from tests.integration.agent_service import EVENTS, running_service
from tests.integration.test_iterate import CONFIG, SECRET


def probe(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    token = mint_jwt(SECRET, {"sub": "load"})
    expect = [part for name in EVENTS for part in ("--expect-event", name)]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "loopctl",
            "probe",
            url,
            "--send",
            '{"type": "user_message", "payload": {"content": "hi"}}',
            *expect,
            "--token-env",
            "LOAD_TOKEN",
            "--timeout",
            "20",
            "--json",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LOAD_TOKEN": token},
        check=False,
    )


def test_concurrent_sessions_are_counted_with_percentiles() -> None:
    with running_service(secret=SECRET) as service:
        done = probe(service.ws_url, "--concurrency", "40")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)["data"]
    load = document["load"]
    assert (load["sessions"], load["failed"], load["outcomes"]) == (40, 0, {"success": 40})
    connect = load["latency_ms"]["connect"]
    assert connect["p50"] <= connect["p95"] <= connect["p99"]
    assert document["passed"] is True and "40/40 sessions passed" in document["outcome"]["reason"]


def test_failing_sessions_name_the_common_failure() -> None:
    with running_service(fault="auth", secret=SECRET) as service:
        done = probe(service.ws_url, "--concurrency", "10")
    document = json.loads(done.stdout)["data"]
    assert done.returncode == 1
    assert document["load"]["outcomes"] == {"policy_violation": 10}
    assert document["outcome"]["label"].startswith("10/10 sessions failed; most as: received 1008")


def test_a_duration_keeps_starting_sessions_until_it_is_over() -> None:
    with running_service(secret=SECRET) as service:
        done = probe(service.ws_url, "--concurrency", "4", "--duration", "0.5")
    load = json.loads(done.stdout)["data"]["load"]
    assert load["sessions"] > 4 and load["wall_s"] >= 0.5


def test_a_check_with_load_lands_in_the_record_and_the_report(tmp_path: Path) -> None:
    with running_service(secret=SECRET) as service:
        config = CONFIG.format(port=service.port).replace(
            "    - name: chat-events\n", "    - name: chat-events\n      load: {concurrency: 8}\n"
        )
        (tmp_path / "config.yaml").write_text(config)
        done = subprocess.run(
            [sys.executable, "-m", "loopctl", "iterate", "--ci", "--config", str(tmp_path / "config.yaml")],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DEMO_JWT_SECRET": SECRET},
            check=False,
        )
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "iterations" / "0001.json").read_text())
    chat = next(check for check in record["checks"] if check["name"] == "chat-events")
    assert chat["load"]["sessions"] == 8 and chat["load"]["outcomes"] == {"success": 8}
    report = (tmp_path / "iterations" / "0001.md").read_text()
    assert "### Load" in report and "| chat-events | 8 at 8 | success 8 |" in report


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([], 50) is None and percentile([7.0], 99) == 7.0
