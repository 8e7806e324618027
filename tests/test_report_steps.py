"""Records of conversations: the report, JUnit and the ranking read the step reached; records without it render."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from markdown_it import MarkdownIt

from loopctl.probe import classify
from loopctl.records.compare import iteration_status
from loopctl.records.record import OutcomeRecord, Record
from loopctl.reports.junit import junit_xml
from loopctl.reports.markdown import render_markdown
from tests.support.records import closed, make_record, ws_check

HOSTILE_VALUE = "`] <b>x</b> | ![img](http://x)"


def conversation(outcome: OutcomeRecord, done: int, **steps: Any) -> dict[str, Any]:
    check = ws_check(outcome, [], name="chat", expected=[])
    at = ["send auth", "expect auth_ok", "send ask", "expect agent_started", "expect agent_completed"][done]
    return check | {"steps": {"total": 7, "done": done, "reached": done + 1, "at": at, **steps}}


def two_iterations() -> tuple[Record, Record]:
    silent = classify.silence(3, expected=(), seen=())
    before = make_record(1, "failed", checks=[conversation(silent, 1)])
    mismatch = f'result.answer: "{HOSTILE_VALUE}", expected ^4$'
    wrong = OutcomeRecord(
        code=None,
        category="payload_mismatch",
        depth=4,
        label=f"step 5/7: expect agent_completed: {mismatch}",
        reason="",
        hint="",
    )
    after = make_record(2, "progress", checks=[conversation(wrong, 4, mismatch=mismatch, instead=[HOSTILE_VALUE])])
    return before, after


def test_getting_to_a_later_step_is_progress_and_the_report_says_so() -> None:
    before, after = two_iterations()
    assert iteration_status(after, before) == "progress"
    assert iteration_status(before, after) == "regression"
    report = render_markdown(after, before)
    assert "got further in the conversation: step 2 → step 5 — progress" in report
    assert "- **Step reached**: `step 5/7: expect agent_completed` (4/7 steps done)" in report
    # The server's text is only ever inside code spans: no HTML, no image, no link comes out of it.
    inline = [child for token in MarkdownIt().parse(report) for child in token.children or []]
    assert not [child for child in inline if child.type in ("html_inline", "image", "link_open")]
    assert any(HOSTILE_VALUE in child.content for child in inline if child.type == "code_inline")


def test_junit_names_the_step_reached_and_the_mismatch() -> None:
    _, after = two_iterations()
    failure = ET.fromstring(junit_xml(after)).find(".//testcase[@name='chat']/failure")
    assert failure is not None and failure.get("type") == "payload_mismatch"
    assert "step reached: step 5/7: expect agent_completed (4/7 done)" in (failure.text or "")
    assert f'payload mismatch: result.answer: "{HOSTILE_VALUE}", expected ^4$' in (failure.text or "")


def test_a_record_from_before_steps_renders_and_compares_with_one_that_has_them() -> None:
    old = make_record(1, "failed", checks=[closed(1011, "Internal error", ["agent_started"])])
    assert old.schema_ == 1 and old.checks[0].steps is None
    _, after = two_iterations()
    report = render_markdown(after, old)
    assert "Step reached" in report and "Internal error" in report
    assert "Step reached" not in render_markdown(old, None)
