"""A `steps` check in a full `loopctl iterate`, and `loopctl probe --check NAME` with the config's token sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.serving import started
from tests.conformance.test_conversations import TOKEN, exchange
from tests.integration.agent_service import running_service
from tests.reliability.harness import run_loopctl

JWT_SECRET = "conversation-jwt-secret-0042"

CONFIG = """\
project: chat
deploy: {{target: url, url: "http://127.0.0.1:{port}"}}
probe:
  checks:
    - name: chat
      priority: 1
      impact: Users get an answer
      websocket:
        path: /chat
"""


def config(port: int, question: str) -> str:
    """The conformance chat conversation, asking `question`, at the chat service on `port`."""
    return CONFIG.format(port=port) + exchange(question=question)


def loopctl(folder: Path, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {"CHAT_TOKEN": token, "DEMO_JWT_SECRET": JWT_SECRET}
    return run_loopctl(folder, *args, "--config", str(folder / "config.yaml"), env=env)


@pytest.fixture(scope="module")
def chat_port() -> Iterator[int]:
    env = {**os.environ, "CHAT_TOKEN": TOKEN}
    with started([sys.executable, "-m", "tests.conformance.chat_apps", "aiohttp"], env=env) as (port, _):
        yield port


@pytest.fixture(scope="module")
def story(
    chat_port: int, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """Refused at auth (step 2), then a wrong answer (step 5), then every step: the reports rank the steps."""
    folder = tmp_path_factory.mktemp("conversation")
    runs = []
    for question, token in (("2+2?", "wrong-token-123"), ("2+3?", TOKEN), ("2+2?", TOKEN)):
        (folder / "config.yaml").write_text(config(chat_port, question))
        runs.append(loopctl(folder, "iterate", "--ci", "--json", "--junit-xml", str(folder / "junit.xml"), token=token))
        if len(runs) == 2:
            (folder / "junit-2.xml").write_bytes((folder / "junit.xml").read_bytes())
    return folder, runs


def test_the_statuses_follow_the_step_reached(story: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    _, runs = story
    statuses = [json.loads(run.stdout)["data"]["status"] for run in runs]
    assert statuses == ["failed", "progress", "success"], [run.stderr[-2000:] for run in runs]


def test_the_report_names_the_step_reached_and_the_mismatch(
    story: tuple[Path, list[subprocess.CompletedProcess[str]]],
) -> None:
    folder, _ = story
    report = (folder / "iterations" / "0002.md").read_text()
    assert "step 5/7: expect agent_completed" in report
    assert '- **Payload mismatch**: `result.answer: "5", expected ^4$`' in report
    assert "moved from authentication to event delivery (step 2 → step 5) — progress" in report
    assert "Frames ignored" not in report  # the text frame is the conversation's, not noise
    assert TOKEN not in report


def test_junit_and_json_carry_the_step_reached(story: tuple[Path, list[subprocess.CompletedProcess[str]]]) -> None:
    folder, runs = story
    cases = ElementTree.parse(folder / "junit-2.xml").getroot().iter("testcase")
    case = next(case for case in cases if case.get("name") == "chat")
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "payload_mismatch"
    assert (failure.get("message") or "").startswith("step 5/7: expect agent_completed: payload mismatch")
    assert "step reached: step 5/7: expect agent_completed (4/7 done)" in (failure.text or "")
    assert 'payload mismatch: result.answer: "5", expected ^4$' in (failure.text or "")
    steps = json.loads(runs[1].stdout)["data"]["checks"][0]["steps"]
    assert (steps["reached"], steps["total"], steps["mismatch"]) == (5, 7, 'result.answer: "5", expected ^4$')


def test_probe_check_runs_one_configured_conversation(chat_port: int, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(config(chat_port, "2+3?"))
    run = loopctl(tmp_path, "probe", "--check", "chat", "--json")
    envelope = json.loads(run.stdout)
    assert (run.returncode, envelope["exit_code"], envelope["data"]["check"]) == (1, 1, "chat"), run.stderr
    assert envelope["data"]["steps"]["reached"] == 5
    assert "step 5/7: expect agent_completed" in loopctl(tmp_path, "probe", "--check", "chat").stderr


def test_probe_check_mints_the_configured_jwt(tmp_path: Path) -> None:
    """The sample service accepts only a token signed with its secret: the check passes only with the minted JWT."""
    (tmp_path / "config.yaml").write_text(
        "project: agent\nprobe:\n  checks:\n    - name: chat-events\n      websocket:\n        path: /ws\n"
        "        auth: {type: bearer, token: {jwt: {secret: {env: DEMO_JWT_SECRET}, claims: {sub: probe}}}}\n"
        "        send: {type: user_message, payload: {content: hello}}\n"
        "        expect_events: [agent_started, agent_thinking, tool_executing, tool_completed, agent_completed]\n"
        "        timeout: 10\n"
    )
    with running_service(secret=JWT_SECRET) as service:
        run = loopctl(tmp_path, "probe", "--check", "chat-events", "--url", service.http_url)
        unknown = loopctl(tmp_path, "probe", "--check", "nope", "--url", service.http_url)
    assert run.returncode == 0, run.stderr
    assert "PASS" in run.stderr and "eyJhbGciOiJIUzI1NiIs" not in run.stderr
    assert unknown.returncode == 2 and "no check named 'nope' in the config" in unknown.stderr
