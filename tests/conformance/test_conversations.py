"""Conversations (`steps:`) against real chat services: Starlette on uvicorn, aiohttp, and Node on `ws`.

Each service authenticates in the first message, hands out a session id the next message must carry, answers in
JSON, ends with a text line and closes with 1000; a second route speaks plain-text frames. Every check is read from
config.yaml text in the shape the README documents, so the config and the runner are tested together.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopctl.config import load_config
from loopctl.phases.probe import check_record
from loopctl.probe.from_config import build_check
from loopctl.probe.options import run_check_sync
from loopctl.probe.spec import ProbeResult
from loopctl.records.compare import movement, progress_of
from loopctl.records.record import CheckRecord
from tests.conformance.serving import started
from tests.support import npm

ROOT = Path(__file__).resolve().parents[2]
NODE_WS = ROOT / "tests" / "fixtures" / "node_ws"
TOKEN = "chat-token-7f3a9c"
SERVERS = ["starlette", "aiohttp", "node"]

CONVERSATION = """\
project: chat
probe:
  checks:
    - name: chat
      websocket:
        url: {url}
"""
# The chat services' conversation: the lines under `websocket:` after where it connects (test_conversation_iterate
# speaks it too, from a full `loopctl iterate`).
EXCHANGE = """\
        auth: {{type: message, token: {{env: CHAT_TOKEN}}}}
        timeout: 10
        steps:
          - send: {{type: auth, token: "{{token}}"}}
          - expect: {{type: auth_ok}}
            capture: {{session: session_id}}
            timeout: 3
          - send: {{type: ask, session: "{session}", text: "{question}"}}
          - expect: {{type: agent_started}}
          - expect: {{type: agent_completed, "result.status": ok}}
            match: {{"result.answer": "^4$"}}
            timeout: 5
          - expect_text: "^DONE( .*)?$"
          - expect_close: {close}
        fail_on: [{{type: error}}]
"""


def exchange(*, session: str = "{session}", question: str = "2+2?", close: str = "1000") -> str:
    """The conversation's config lines: the session it sends, the question it asks, the close it expects."""
    return EXCHANGE.format(session=session, question=question, close=close)


TEXT_PROTOCOL = """\
project: chat
probe:
  checks:
    - name: text
      websocket:
        url: {url}
        timeout: 10
        steps:
          - text: HELLO
          - expect_text: "^WELCOME \\\\w+$"
          - text: PING
          - expect_text: "^PONG$"
          - expect_close: [1000, 1001]
"""


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The `ws` package, installed once from the pinned lock file into the repo's git-ignored cache."""
    return npm.node_modules(NODE_WS)


@pytest.fixture(scope="module", params=SERVERS)
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    env = {**os.environ, "CHAT_TOKEN": TOKEN}
    if request.param == "node":
        env["NODE_PATH"] = str(request.getfixturevalue("node_modules"))
        command = ["node", str(ROOT / "tests" / "fixtures" / "server_apps" / "node_ws_chat.js")]
    else:
        command = [sys.executable, "-m", "tests.conformance.chat_apps", request.param]
    with started(command, env=env) as (listening, _):
        yield listening


def _run(tmp_path: Path, text: str) -> tuple[ProbeResult, CheckRecord]:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(text, encoding="utf-8")
    item = load_config(config_file).probe.checks[0]
    result = run_check_sync(build_check(item, None, {}))
    return result, check_record(item, result)


def _chat(port: int, *, session: str = "{session}", question: str = "2+2?", close: str = "1000") -> str:
    where = CONVERSATION.format(url=f"ws://127.0.0.1:{port}/chat")
    return where + exchange(session=session, question=question, close=close)


def test_auth_in_the_first_message_then_a_captured_session_reaches_every_step(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TOKEN", TOKEN)
    result, record = _run(tmp_path, _chat(port))
    assert result.outcome.category == "success", result.outcome
    assert record.steps is not None
    assert (record.steps.done, record.steps.total, record.steps.where) == (7, 7, "all 7 steps")
    # The session id came back from an authenticated exchange: it is shown masked, like the token.
    assert record.steps.captured == {"session": "***"}


def test_a_refused_auth_message_is_a_1008_at_the_step_that_waited_for_auth_ok(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TOKEN", "not-the-token")
    result, record = _run(tmp_path, _chat(port))
    assert (result.outcome.code, result.outcome.category, result.outcome.depth) == (1008, "policy_violation", 2)
    assert result.outcome.label.startswith("step 2/7: expect auth_ok: received 1008 (policy violation)")
    assert record.steps is not None and (record.steps.done, record.steps.reached) == (1, 2)
    assert "not-the-token" not in record.model_dump_json()


def test_a_session_the_server_never_gave_ends_at_once_on_the_error_frame(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the captured id the server answers with an error frame: `fail_on` ends the wait with its message
    (the step would otherwise wait for its 5 s and end as no_response)."""
    monkeypatch.setenv("CHAT_TOKEN", TOKEN)
    result, _ = _run(tmp_path, _chat(port, session="sess-made-up"))
    assert result.outcome.category == "server_reported_error", result.outcome
    assert result.outcome.reason == "unknown session sess-made-up"
    assert result.outcome.label.startswith("step 4/7: expect agent_started: ")


def test_a_wrong_answer_names_the_field_the_pattern_and_the_value(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TOKEN", TOKEN)
    result, record = _run(tmp_path, _chat(port, question="2+3?"))
    assert (result.outcome.category, result.outcome.depth) == ("payload_mismatch", 4), result.outcome
    assert 'result.answer: "5", expected ^4$' in result.outcome.label
    assert record.steps is not None
    assert (record.steps.reached, record.steps.mismatch) == (5, 'result.answer: "5", expected ^4$')
    assert "agent_completed" in record.steps.instead[0] and '"5"' in record.steps.instead[0]


def test_a_close_with_another_code_than_expected_fails_the_last_step(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TOKEN", TOKEN)
    result, _ = _run(tmp_path, _chat(port, close="4000"))
    assert (result.outcome.code, result.outcome.category) == (1000, "closed_early"), result.outcome
    assert result.outcome.label.startswith("step 7/7: expect_close 4000: received 1000 (normal closure) bye")


def test_a_text_frame_protocol_is_spoken_step_by_step(port: int, tmp_path: Path) -> None:
    result, record = _run(tmp_path, TEXT_PROTOCOL.format(url=f"ws://127.0.0.1:{port}/text"))
    assert result.outcome.category == "success", result.outcome
    assert record.steps is not None and record.steps.done == 5


def test_getting_further_in_the_conversation_is_progress(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TOKEN", TOKEN)
    _, at_auth = _run(tmp_path, _chat(port, session="sess-made-up"))  # stops at step 4
    _, at_answer = _run(tmp_path, _chat(port, question="2+3?"))  # stops at step 5
    words = movement(at_auth.outcome, at_answer.outcome, **progress_of(at_auth, at_answer))
    assert words == "got further in the conversation: step 4 → step 5 — progress"


def test_a_conversation_that_ends_with_a_send_still_hears_the_refusal(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is awaited after the last send, yet a close sent as the answer fails the check, as `hold` does."""
    monkeypatch.setenv("CHAT_TOKEN", "not-the-token")
    config = _chat(port).split("          - expect: {type: auth_ok}")[0] + "        fail_on: [{type: error}]\n"
    result, _ = _run(tmp_path, config)
    assert (result.outcome.code, result.outcome.category) == (1008, "policy_violation"), result.outcome
