"""`steps:` in config.yaml: the contract's shape loads, and every mistake is one line naming the key and its line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loopctl.config import load_config
from loopctl.errors import UsageError
from loopctl.probe.from_config import build_check

HEAD = """\
project: chat
probe:
  checks:
    - name: chat
      websocket:
        url: ws://127.0.0.1:9/ws
"""


def _load(tmp_path: Path, body: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    return load_config(path, environ={"CHAT_TOKEN": "t0ken-value"})


def _refused(tmp_path: Path, body: str) -> str:
    with pytest.raises(UsageError) as refused:
        _load(tmp_path, body)
    return refused.value.message


def test_a_placeholder_nothing_captured_is_refused_with_its_line(tmp_path: Path) -> None:
    message = _refused(
        tmp_path,
        "        steps:\n"
        "          - send: {type: hello}\n"
        "          - expect: {type: auth_ok}\n"
        "            capture: {session: session_id}\n"
        "          - send: {type: ask, session: '{sesion}'}\n",
    )
    assert message == (
        f"invalid config: {tmp_path / 'config.yaml'}:11: probe.checks[0].websocket.steps[2]: unknown placeholder "
        "{sesion} (a value is known once a step before captures it; known here: {session})"
    )


def test_a_value_used_before_the_step_that_captures_it_is_refused(tmp_path: Path) -> None:
    message = _refused(
        tmp_path,
        "        steps:\n          - text: 'join {room}'\n          - expect: {type: joined}\n"
        "            capture: {room: room.id}\n",
    )
    assert ":8: probe.checks[0].websocket.steps[0]: unknown placeholder {room}" in message


def test_token_without_a_token_source_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, "        steps:\n          - send: {type: auth, token: '{token}'}\n")
    assert "{token} is used but the check has no auth token" in message


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("        steps:\n          - send: {a: 1}\n            expect: {a: 1}\n", "exactly one of"),
        ("        steps:\n          - expect_text: '('\n", "is not a regular expression"),
        ("        steps:\n          - expect: {type: x}\n            match: {a: '[a'}\n", "not a regular expression"),
        ("        steps:\n          - send: {type: x}\n            capture: {a: b}\n", "belong to an `expect` step"),
        ("        steps:\n          - binary_hex: zz\n", "is not hexadecimal"),
        ("        steps:\n          - expect_close: 999\n", "a close code is 1000–4999"),
        ("        steps: []\n", "steps is empty"),
        ("        send: {a: 1}\n        steps:\n          - expect: {a: 1}\n", "either steps or send + expect_events"),
        (
            "        auth: {type: message, token: {env: CHAT_TOKEN}}\n        send: {a: 1}\n",
            "auth type 'message' sends the token only in a step",
        ),
        ("        steps:\n          - expect: {type: x}\n            when: later\n", "unknown key"),
    ],
)
def test_a_wrong_step_is_one_line_naming_it(tmp_path: Path, body: str, said: str) -> None:
    message = _refused(tmp_path, body)
    where = rf"invalid config: {re.escape(str(tmp_path / 'config.yaml'))}:\d+: probe\.checks\[0\]\.websocket\S*: "
    assert re.match(where, message) and "\n" not in message and said in message, message


def test_the_contract_shape_builds_its_steps_and_the_shorthand_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_TOKEN", "t0ken-value")
    config = _load(
        tmp_path,
        "        auth: {type: message, token: {env: CHAT_TOKEN}}\n"
        "        steps:\n"
        "          - send: {type: auth, token: '{token}'}\n"
        "          - expect: {type: agent_completed, 'result.status': ok}\n"
        "            match: {'result.answer': '^4$'}\n"
        "            capture: {answer: result.answer}\n"
        "            timeout: 3\n"
        "          - text: 'thanks {answer}'\n"
        "          - binary_hex: 00ff\n"
        "          - expect_text: '^DONE'\n"
        "          - expect_close: [1000, 1001]\n"
        "    - name: old\n"
        "      websocket: {url: 'ws://127.0.0.1:9/ws', send: {a: '{kept}'}, expect_events: [x, y]}\n",
    )
    chat, old = config.probe.checks  # type: ignore[attr-defined]
    check = build_check(chat, None, {}, ())
    assert [step.kind for step in check.steps] == ["send", "expect", "text", "binary", "expect_text", "expect_close"]
    assert check.steps[3].body == b"\x00\xff" and check.steps[5].close_codes == (1000, 1001)
    assert check.steps[1].timeout == 3 and check.auth == "message"
    assert ("Authorization", "Bearer t0ken-value") not in check.headers
    shorthand = build_check(old, None, {}, ())
    assert (shorthand.steps, shorthand.send, shorthand.expect_events) == ((), {"a": "{kept}"}, ("x", "y"))


def test_token_in_the_path_is_filled_percent_encoded(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "project: chat\nprobe:\n  checks:\n    - name: chat\n      websocket:\n"
        "        path: '/ws/{token}?again={token}'\n"
        "        auth: {type: query, token: {env: ODD_TOKEN}}\n",
        encoding="utf-8",
    )
    config = load_config(path, environ={"ODD_TOKEN": "a/{x}&$1%"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ODD_TOKEN", "a/{x}&$1%")
        check = build_check(config.probe.checks[0], "http://127.0.0.1:9", {}, ())
    assert check.url == "ws://127.0.0.1:9/ws/a%2F%7Bx%7D%26%241%25?again=a%2F%7Bx%7D%26%241%25"
