"""Matching a frame against a step: dotted keys, patterns, captures and placeholders."""

from __future__ import annotations

from loopctl.probe.spec import Check
from loopctl.probe.steps import Step, captured, fill, mismatch, subset


def test_dotted_keys_reach_into_nested_fields_and_a_literal_dotted_key_wins() -> None:
    frame = {"type": "agent_completed", "result": {"status": "error"}, "a.b": 1}
    assert subset({"result.status": "error"}, frame)
    assert not subset({"result.status": "ok"}, frame)
    assert not subset({"result.missing": None}, frame)  # absent is not null
    assert subset({"a.b": 1}, frame)


def test_a_mismatch_names_the_field_the_value_and_what_was_expected() -> None:
    step = Step("expect", {"type": "done", "result.status": "ok"}, match={"result.answer": "^4$"})
    assert mismatch(step, {"type": "done", "result": {"status": "error"}}) == 'result.status: "error", expected "ok"'
    assert mismatch(step, {"type": "done", "result": {"status": "ok", "answer": "5"}}) == (
        'result.answer: "5", expected ^4$'
    )
    assert mismatch(step, {"type": "done", "result": {"status": "ok", "answer": 4}}) is None  # a number as JSON
    assert mismatch(step, {"type": "done", "result": {"status": "ok"}}) == "result.answer: absent, expected ^4$"


def test_placeholders_keep_a_whole_values_type_and_fill_inside_text() -> None:
    body = {"session": "{session}", "text": "in {session}, {unknown}", "list": ["{n}"], "json": "{}"}
    filled = fill(body, {"session": 42, "n": "x"})
    assert filled == {"session": 42, "text": "in 42, {unknown}", "list": ["x"], "json": "{}"}


def test_captures_take_dotted_fields_and_skip_absent_ones() -> None:
    step = Step("expect", {"type": "ok"}, capture={"room": "room.id", "none": "nope"})
    assert captured(step, {"type": "ok", "room": {"id": "r-1"}}) == {"room": "r-1"}


def test_fail_on_matches_dotted_keys_and_an_expected_error_step_turns_the_default_off() -> None:
    check = Check(url="ws://h/ws", fail_on=({"result.status": "error"},))
    assert any(subset(pattern, {"result": {"status": "error"}}) for pattern in check.error_frames)
    expecting_error = Check(url="ws://h/ws", steps=(Step("expect", {"type": "error"}),))
    assert expecting_error.error_frames == ()
    assert Check(url="ws://h/ws", steps=(Step("expect", {"type": "x"}),)).error_frames == ({"type": "error"},)


def test_a_step_is_named_by_its_event_and_only_an_expect_waits_for_one() -> None:
    steps = [
        Step("send", {"type": "auth"}),
        Step("expect", {"type": "agent_completed"}),
        Step("expect", {"type": 4}),
        Step("text", "hi"),
        Step("binary", b"\x00"),
        Step("expect_text", "^DONE"),
        Step("expect_close", close_codes=(1000, 1001)),
    ]
    assert [step.describe("type") for step in steps] == [
        "send auth",
        "expect agent_completed",
        "expect a JSON frame",
        "send a text frame",
        "send a binary frame",
        "expect_text ^DONE",
        "expect_close 1000 or 1001",
    ]
    assert [step.event_name("type") for step in steps] == [None, "agent_completed", None, None, None, None, None]
