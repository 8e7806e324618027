"""`loopctl iterate` end to end with deploy.target: url against the sample service, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.integration.agent_service import running_service

SECRET = "iterate-test-jwt-secret-0042"
REPO = Path(__file__).resolve().parents[2]

CONFIG = """\
project: agent-service
iterations_dir: iterations
deploy: {{target: url, url: "http://127.0.0.1:{port}"}}
probe:
  checks:
    - name: health
      priority: 1
      http: {{path: /health, expect_status: 200}}
    - name: chat-events
      priority: 1
      impact: Users can chat and see the agent work
      websocket:
        path: /ws
        auth: {{type: bearer, token: {{jwt: {{secret: {{env: DEMO_JWT_SECRET}}, claims: {{sub: probe}}}}}}}}
        send: {{type: user_message, payload: {{content: hello}}}}
        expect_events: [agent_started, agent_thinking, tool_executing, tool_completed, agent_completed]
        timeout: 10
"""


def iterate(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "DEMO_JWT_SECRET": SECRET, **(env or {})}
    environ.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "loopctl", "iterate", "--config", str(folder / "config.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        cwd=folder,
        check=False,
    )


def run_with_fault(folder: Path, fault: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    with running_service(fault=fault, secret=SECRET) as service:
        (folder / "config.yaml").write_text(CONFIG.format(port=service.port))
        return iterate(folder, *args)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """The 1008 → 1011 → success story, replayed by restarting the service with each fault."""
    folder = tmp_path_factory.mktemp("story")
    runs = [
        run_with_fault(folder, "auth", "--ci"),
        run_with_fault(folder, "internal", "--ci", "--junit-xml", str(folder / "junit.xml")),
        run_with_fault(folder, None, "--json"),
    ]
    return folder, runs


def test_the_story_statuses_and_exit_codes(story: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    folder, runs = story
    records = [json.loads((folder / "iterations" / f"000{n}.json").read_text()) for n in (1, 2, 3)]
    assert [record["status"] for record in records] == ["failed", "progress", "success"]
    assert [run.returncode for run in runs] == [1, 1, 0]
    assert records[0]["outcome"]["code"] == 1008 and records[1]["outcome"]["code"] == 1011
    assert records[1]["checks"][1]["events_seen"] == ["agent_started"]
    assert records[1]["previous"] == 1
    # A service deployed by other means: loopctl has no log of it to read, and says so instead of failing.
    probe = next(phase for phase in records[1]["phases"] if phase["name"] == "probe")
    assert probe["detail"]["evidence"] == {"read": False, "note": "the url target has no server log to read"}
    assert records[1]["checks"][1]["server_error"] is None and records[1]["checks"][1]["trace_id"]


def test_the_second_report_says_what_moved(story: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    folder, _ = story
    report = (folder / "iterations" / "0002.md").read_text()
    assert "received 1008 (policy violation) Authentication failed" in report
    assert "received 1011 (internal error) Internal error" in report
    assert "moved from authentication to message processing — progress" in report
    assert "message handler" in report
    first = (folder / "iterations" / "0001.md").read_text()
    assert "First iteration" in first


def test_json_prints_exactly_the_stored_record(story: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    folder, runs = story
    printed = json.loads(runs[2].stdout)["data"]
    assert printed == json.loads((folder / "iterations" / "0003.json").read_text())
    assert printed["status"] == "success"


def test_ci_mode_prints_plain_timestamped_lines(story: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    _, runs = story
    lines = runs[0].stderr.splitlines()
    assert any(line.endswith("probe   started") for line in lines)
    assert "\x1b[" not in runs[0].stderr
    assert runs[0].stdout == ""


def test_junit_loads_in_a_standard_parser(story: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    folder, _ = story
    root = ElementTree.parse(folder / "junit.xml").getroot()
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert cases["chat-events"].find("failure") is not None
    assert cases["health"].find("failure") is None


def test_no_secret_or_token_reaches_any_file_or_output(
    story: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    folder, runs = story
    written = "".join(path.read_text(errors="replace") for path in folder.rglob("*") if path.is_file())
    printed = "".join(run.stdout + run.stderr for run in runs)
    assert SECRET not in written + printed
    # A minted token starts with the base64 of '{"alg":"HS256"': none may appear anywhere either.
    assert "eyJhbGciOiJIUzI1NiIs" not in written + printed


def test_report_and_history_read_the_records_back(story: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    folder, _ = story
    config = str(folder / "config.yaml")
    base = [sys.executable, "-m", "loopctl"]
    report = subprocess.run([*base, "report", "2", "--config", config], capture_output=True, text=True, check=False)
    history = subprocess.run(
        [*base, "history", "--json", "--config", config], capture_output=True, text=True, check=False
    )
    assert report.returncode == 0
    assert report.stdout == (folder / "iterations" / "0002.md").read_text()
    rows = json.loads(history.stdout)["data"]["iterations"]
    assert [row["status"] for row in rows] == ["failed", "progress", "success"]


def test_a_second_concurrent_iterate_fails_fast(tmp_path: Path) -> None:
    import fcntl

    (tmp_path / "iterations").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG.format(port=1))
    with (tmp_path / "iterations" / ".lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        done = iterate(tmp_path)
    assert done.returncode == 2
    assert "another loopctl iteration is running" in done.stderr and "4242" in done.stderr
    assert not list((tmp_path / "iterations").glob("*.json"))


def test_fail_on_regression_lets_a_failing_but_improving_step_pass(tmp_path: Path) -> None:
    run_with_fault(tmp_path, "auth")
    improving = run_with_fault(tmp_path, "internal", "--fail-on", "regression")
    regressing = run_with_fault(tmp_path, "auth", "--fail-on", "regression")
    assert improving.returncode == 0
    assert regressing.returncode == 1
    assert json.loads((tmp_path / "iterations" / "0003.json").read_text())["status"] == "regression"


def test_a_service_that_is_down_is_a_classified_failure_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(port=1))
    done = iterate(tmp_path, "--ci")
    record = json.loads((tmp_path / "iterations" / "0001.json").read_text())
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert record["outcome"]["category"] == "connection_refused"


def test_report_emoji_false_in_the_config_gives_plain_reports(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(port=1) + "report: {emoji: false}\n")
    iterate(tmp_path, "--ci")
    written = (tmp_path / "iterations" / "0001.md").read_text()
    shown = subprocess.run(
        [sys.executable, "-m", "loopctl", "report", "--config", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for report in (written, shown):
        assert "**Status**: failed" in report
        assert not any(mark in report for mark in ("✅", "❌", "⏭️", "➡️"))
