"""The markdown report: the story's iteration 2 pinned whole, and the lines each situation must produce."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from loopctl.probe import classify
from loopctl.records.record import Record
from loopctl.reports.markdown import render_markdown
from tests.reliability.hostile import HOSTILE
from tests.support.records import all_events, closed, hostile_record, http_check, make_record, phases, story, ws_check

SNAPSHOT = Path(__file__).parent / "snapshots" / "report_0002.md"
# Emoji blocks, dingbats and misc symbols (✅ ❌ ➡ ⏸ ⏹ ⏭), arrows-as-emoji (⬅) and the emoji variation selector.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u23e9-\u23ff\ufe0f]")


def section(report: str, title: str) -> str:
    """The text under `## title`, up to the next `## ` heading."""
    start = report.index(f"## {title}\n")
    end = report.find("\n## ", start + 1)
    return report[start : end if end != -1 else None]


@pytest.fixture
def records() -> list[Record]:
    return story()


def test_iteration_2_against_1_matches_the_snapshot(records: list[Record]) -> None:
    report = render_markdown(records[1], records[0], trend=records[:2])
    assert report == SNAPSHOT.read_text(encoding="utf-8")


def test_the_report_is_a_pure_function_of_its_records(
    records: list[Record], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = [record.model_dump_json() for record in records]
    first = render_markdown(records[1], records[0], trend=records[:2])
    assert [record.model_dump_json() for record in records] == before  # the records are not touched
    assert first.startswith("# ") and f"iteration {records[1].number}" in first.splitlines()[0]
    # Nothing around it counts: clock zone, terminal, colour settings, the working folder.
    for name, value in {"TZ": "Asia/Kolkata", "COLUMNS": "40", "NO_COLOR": "1", "CI": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert render_markdown(records[1], records[0], trend=records[:2]) == first


def test_before_and_after_show_the_close_lines_and_what_the_move_means(records: list[Record]) -> None:
    summary = section(render_markdown(records[1], records[0]), "Summary")
    assert "- **BEFORE**: `received 1008 (policy violation) Authentication failed`" in summary
    assert "- **AFTER**: `received 1011 (internal error) Internal error`" in summary
    assert "- **MEANING**: moved from authentication to message processing — progress" in summary
    assert "- **EVENTS**: 0/5 → 1/5 expected events arrived" in summary
    assert "**Blocking outcome**: 1008 → 1011: moved from authentication to message processing — progress" in summary
    assert "**health**" not in summary  # unchanged checks stay out of the summary


def test_the_header_names_the_deployment_and_the_iteration_compared_with(records: list[Record]) -> None:
    report = render_markdown(records[1], records[0])
    assert report.startswith("# agent-service — iteration 2: progress\n")
    assert "- **Date**: 2025-09-08 18:20 UTC" in report
    assert "- **Deployment**: `backend-staging-00154-v9v`" in report
    assert "- **Status**: ➡️ progress" in report
    assert "- Compared with iteration 1 (2025-09-07 18:20 UTC)" in report
    assert "- **Commit**: `1111111` (dirty)" in render_markdown(records[0], None)


def test_dates_are_shown_in_utc_whatever_offset_the_record_carries() -> None:
    record = make_record(1, "failed", checks=[http_check(status=503)], started_at="2025-09-07T20:20:05+02:00")
    assert "- **Date**: 2025-09-07 18:20 UTC" in render_markdown(record, None)


def test_results_compare_pass_rates_checks_and_events(records: list[Record]) -> None:
    results = section(render_markdown(records[1], records[0]), "Results compared")
    assert "| Measure | Iteration 1 | Iteration 2 |" in results
    assert "| Priority 1 | 1/2 (50%) | 1/2 (50%) |" in results
    assert "Priority 2" not in results
    assert "| chat-events | ❌ policy_violation | ❌ internal_error |" in results
    assert "| agent_started | ❌ | ✅ |" in results
    assert "| agent_completed | ❌ | ❌ |" in results


def test_next_priorities_point_at_the_message_handler(records: list[Record]) -> None:
    priorities = section(render_markdown(records[1], records[0]), "Next iteration priorities")
    assert "1. **chat-events** (priority 1) stops at message processing" in priorities
    assert "message handler" in priorities
    assert "2." not in priorities


def test_the_first_iteration_summarises_its_blocking_outcome(records: list[Record]) -> None:
    report = render_markdown(records[0], None)
    assert "- First iteration: nothing to compare with" in report
    assert "**Blocking outcome**: `received 1008 (policy violation) Authentication failed` in **chat-events**" in report
    assert "- Not working yet: Users can chat and see the agent work (chat-events)" in report
    assert "| Measure | Iteration 1 |\n| --- | --- |\n| Priority 1 | 1/2 (50%) |" in report
    assert "BEFORE" not in report
    assert "### Trend" not in report


def test_success_says_what_now_works_and_that_the_loop_can_stop(records: list[Record]) -> None:
    report = render_markdown(records[2], records[1], trend=records)
    assert "- Now working: Users can chat and see the agent work (chat-events)" in report
    assert "- **MEANING**: moved from message processing to success — progress" in report
    assert "## Failures\n\nNone.\n" in report
    assert "Nothing failing. Keep this iteration as the known-good baseline." in report
    assert "the loop can stop here" in section(report, "Next command")
    assert "loopctl iterate" not in section(report, "Next command")
    assert "| Priority 1 | 1/2 (50%) | 2/2 (100%) |" in report


def test_a_check_that_breaks_again_is_reported_broken(records: list[Record]) -> None:
    broken = make_record(4, "regression", checks=[http_check(), closed(1011, "Internal error", ["agent_started"])])
    summary = section(render_markdown(broken, records[2]), "Summary")
    assert "- Broken now: Users can chat and see the agent work (chat-events)" in summary
    assert "fell back from success to message processing — regression" in summary


def test_nothing_changed_is_one_line(records: list[Record]) -> None:
    again = make_record(3, "no_change", checks=[http_check(), closed(1011, "Internal error", ["agent_started"])])
    summary = section(render_markdown(again, records[1]), "Summary")
    assert summary.strip().endswith("No check changed outcome since iteration 2.")
    assert "Blocking outcome" not in summary


def test_a_new_check_was_not_run_before(records: list[Record]) -> None:
    added = make_record(4, "success", checks=[http_check(), all_events(), http_check("metrics")])
    summary = section(render_markdown(added, records[2]), "Summary")
    assert "**metrics**\n\n- **BEFORE**: not run\n- **AFTER**: `HTTP 200 OK`" in summary
    assert "- **MEANING**: not run in iteration 3; now passes" in summary
    assert "| metrics | not run | ✅ success |" in render_markdown(added, records[2])


def test_two_passing_outcomes_are_not_called_a_failure(records: list[Record]) -> None:
    moved = make_record(4, "success", checks=[http_check(status=204, expect=None), all_events()])
    summary = section(render_markdown(moved, records[2]), "Summary")
    assert "- **MEANING**: still passing" in summary


def test_without_emoji_the_report_uses_words(records: list[Record]) -> None:
    with_emoji = render_markdown(records[1], records[0], trend=records[:2])
    assert EMOJI.search(with_emoji)  # the detector sees the markers it must not find below
    for record, previous in [(records[0], None), (records[1], records[0]), (records[2], records[1])]:
        report = render_markdown(record, previous, trend=records, emoji=False)
        assert not EMOJI.search(report), EMOJI.findall(report)
    plain = render_markdown(records[1], records[0], emoji=False)
    assert "| chat-events | FAIL policy_violation | FAIL internal_error |" in plain
    assert "| agent_started | FAIL | PASS |" in plain
    assert "- **Status**: progress" in plain


def test_pipes_are_escaped_in_cells_and_backticks_in_code() -> None:
    check = closed(1011, "bad `frame` | here", name="chat|ws", impact=None)
    report = render_markdown(make_record(1, "failed", checks=[check]), None)
    assert "| chat\\|ws | ❌ internal_error |" in report
    assert "| chat\\|ws | 85 ms | — | 230 ms |" in report
    assert "- **Reason**: `` bad `frame` | here ``" in report


def test_a_failed_build_leads_the_failures_and_the_priorities() -> None:
    rows: list[dict[str, Any]] = [
        {
            "name": "build",
            "status": "failed",
            "duration_s": 3.0,
            "error": {"kind": "build", "message": "RUN pip failed", "hint": "read the build log"},
        },
        {"name": "push", "status": "skipped"},
        {"name": "deploy", "status": "skipped"},
    ]
    report = render_markdown(make_record(2, "failed", phase_rows=rows, push=None, deploy=None), None)
    assert "| build | ❌ failed | 3.0 s | RUN pip failed |" in report
    assert "| push | ⏭️ skipped | — | — |" in report
    assert "### build (phase)\n\n- **Error**: build: RUN pip failed\n" in report
    assert "1. **build** failed: read the build log" in report
    assert report.count("read the build log") == 1  # the hint once: in the priorities
    assert "- No earlier iteration ran the probe: nothing to compare with" in report
    assert "- **Deployment**: —" in report


def test_a_failed_build_says_what_still_serves_instead_of_checks_not_run(records: list[Record]) -> None:
    rows: list[dict[str, Any]] = [
        {
            "name": "build",
            "status": "failed",
            "duration_s": 3.0,
            "error": {"kind": "build", "message": "RUN pip failed"},
        },
        {"name": "push", "status": "skipped"},
        {"name": "deploy", "status": "skipped"},
        {"name": "probe", "status": "skipped"},
    ]
    report = render_markdown(make_record(3, "failed", phase_rows=rows, push=None, deploy=None), records[1])
    summary = section(report, "Summary")
    assert summary.startswith(
        "## Summary\n\n**build** failed: RUN pip failed\n\n**Still serving**: nothing was deployed"
    )
    assert "so iteration 2's deployment `backend-staging-00154-v9v` at https://" in summary
    assert ".run.app is what serves; its checks were not run again." in summary
    nothing = records[1].model_copy(update={"deploy": None})
    summary = section(render_markdown(make_record(3, "failed", phase_rows=rows, deploy=None), nothing), "Summary")
    assert "**Still serving**: nothing was deployed, and iteration 2 deployed nothing either." in summary
    assert "not run\n" not in report and "not run |" not in report and "BEFORE" not in report
    assert "## Results compared" not in report and "### Expected events" not in report


def test_a_failed_deploy_says_the_previous_deployment_still_serves(records: list[Record]) -> None:
    message = (
        "container x (abc) exited with code 2 before listening on port 8080; the previous container x still serves"
    )
    rows: list[dict[str, Any]] = [
        {"name": "build", "status": "ok"},
        {"name": "push", "status": "ok"},
        {"name": "deploy", "status": "failed", "error": {"kind": "container_exited", "message": message}},
        {"name": "probe", "status": "skipped"},
    ]
    report = render_markdown(make_record(3, "failed", phase_rows=rows, deploy=None), records[1])
    summary = section(report, "Summary")
    assert "**Still serving**: the new deployment did not take over, so iteration 2's deployment" in summary
    assert "## Results compared" not in report and "BEFORE" not in report


def test_an_iteration_that_deployed_and_ran_only_suites_is_compared_not_said_to_have_stopped(
    records: list[Record],
) -> None:
    suite = {"name": "e2e", "priority": 1, "passed": 3, "failed": 1, "exit_code": 1}
    report = render_markdown(make_record(3, "regression", phase_rows=phases(), suites=[suite]), records[1])
    assert "**Still serving**" not in report
    assert "## Results compared" in report and "| e2e (suite) |" in report


def test_the_hint_and_the_server_error_appear_once_each() -> None:
    check = closed(1011, "Internal error", ["agent_started"])
    check["server_error"] = {"type": "TypeError", "message": "boom", "location": "app/ws.py:3", "lines": ["x"]}
    # As the probe phase leaves it: the hint ends with the server's line, for sinks that have no Summary.
    check["outcome"]["hint"] += " The server's log at that time: TypeError: boom"
    report = render_markdown(make_record(2, "progress", checks=[http_check(), check]), None)
    assert report.count("server raised `TypeError: boom`") == 1 and report.count("boom") == 1
    assert report.count("read the server's logs at this time") == 1
    assert "read the server's logs at this time" in section(report, "Next iteration priorities")


def test_suites_show_their_rates_and_at_most_ten_failures() -> None:
    failures = [
        {"test": f"tests/e2e/test_chat.py::test_{index}", "message": "assert 500 == 200"} for index in range(12)
    ]
    suite = {"name": "e2e", "priority": 1, "passed": 23, "failed": 12, "failures": failures, "exit_code": 1}
    report = render_markdown(make_record(1, "failed", checks=[http_check()], suites=[suite]), None)
    assert "| Priority 1 | 24/36 (67%) |" in report
    assert "| e2e (suite) | 23/35 |" in report
    failing = section(report, "Failures")
    assert "### e2e (suite, priority 1)" in failing
    assert "- **Result**: 23 passed, 12 failed, 0 skipped (exit code 1)" in failing
    assert "- `tests/e2e/test_chat.py::test_9`: `assert 500 == 200`" in failing
    assert "test_10" not in failing
    assert "- and 2 more" in failing
    assert "1. **e2e** suite (priority 1): 12 failed, first `tests/e2e/test_chat.py::test_0`" in report


def test_events_are_prefixed_with_the_check_when_several_checks_expect_them() -> None:
    second = closed(1000, "bye", ["agent_started"], name="chat-replay", priority=2)
    report = render_markdown(make_record(1, "failed", checks=[all_events(), second]), None)
    assert "| chat-events: agent_started | ✅ |" in report
    assert "| chat-replay: agent_thinking | ❌ |" in report


def test_failing_checks_are_ordered_by_priority_then_depth() -> None:
    checks = [
        closed(1011, "Internal error", name="p2-deep", priority=2),
        closed(1011, "Internal error", name="p1-deep"),
        closed(1008, "Authentication failed", name="p1-auth"),
    ]
    priorities = section(render_markdown(make_record(1, "failed", checks=checks), None), "Next iteration priorities")
    order = [priorities.index(f"**{name}**") for name in ("p1-auth", "p1-deep", "p2-deep")]
    assert order == sorted(order)


def test_metrics_total_the_phases_and_chart_the_trend(records: list[Record]) -> None:
    metrics = section(render_markdown(records[2], records[1], trend=records), "Metrics")
    assert "| Total (phases) | 114.8 s |" in metrics
    assert "| Wall time (started → finished) | 146.0 s |" in metrics
    assert "| chat-events | 85 ms | 140 ms | 230 ms |" in metrics
    assert "| 1 | failed | policy_violation (1008) | 2/5 | 1/2 (50%) |" in metrics
    assert "| 3 | success | success | 5/5 | 2/2 (100%) |" in metrics
    assert "```mermaid\nxychart-beta\n" in metrics
    assert "    bar [2, 3, 5]\n    line [2.5, 2.5, 5]\n" in metrics


def test_the_trend_adds_this_iteration_and_skips_the_chart_for_one_point(records: list[Record]) -> None:
    alone = render_markdown(records[0], None, trend=[records[0]])
    assert "| 1 | failed | policy_violation (1008) | 2/5 | 1/2 (50%) |" in alone
    assert "mermaid" not in alone
    forgot_this_one = render_markdown(records[1], records[0], trend=[records[0]])
    assert "    bar [2, 3]" in forgot_this_one


def test_phase_durations_do_not_count_skipped_phases_as_time() -> None:
    rows = phases(probe=({"status": "skipped", "duration_s": 0.0}))
    report = render_markdown(make_record(1, "failed", phase_rows=rows), None)
    assert "| probe | — |" in section(report, "Metrics")
    assert "Nothing was probed in this iteration" in report


def test_retries_are_shown_beside_the_phase_that_needed_them() -> None:
    record = make_record(
        1,
        "success",
        checks=[http_check()],
        push={"reference": "r:t", "digest": "sha256:" + "b" * 64, "retries": 2},
        deploy={"target": "cloudrun", "revision": "svc-00001-abc", "url": "http://x", "retries": 1},
    )
    text = render_markdown(record, None)
    assert "after 2 retries |" in text and "after 1 retry |" in text


def test_a_deploy_failure_whose_message_introduces_its_log_points_at_it() -> None:
    error = {
        "kind": "container_exited",
        "message": "the container exited with 1; the last 2 lines of its log:\nboom\nTraceback",
        "hint": "read it",
    }
    record = make_record(2, "failed", phase_rows=phases(deploy={"status": "failed", "error": error}))
    report = render_markdown(record, None)
    summary = section(report, "Summary")
    assert "**deploy** failed: the container exited with 1; the last 2 lines of its log (under Failures)" in summary
    assert "its log:\n" not in summary
    assert "```text\nboom\nTraceback\n```" in section(report, "Failures")


def test_events_of_a_check_that_did_not_run_on_one_side_say_so() -> None:
    before = make_record(1, "failed", checks=[http_check()])
    after = make_record(2, "progress", checks=[http_check(), all_events()])
    assert "- **EVENTS**: 5/5 expected events arrived (not run in iteration 1)" in render_markdown(after, before)
    gone = make_record(3, "regression", checks=[http_check()])
    assert "- **EVENTS**: not run in this iteration (5/5 in iteration 2)" in render_markdown(gone, after)


def test_outside_text_in_a_record_is_text_in_the_report_whatever_it_holds() -> None:
    """Even a record edited by hand: no HTML, link, control character, nor a heading or fence its text opened."""
    report = render_markdown(hostile_record(HOSTILE), None)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\u202e]", report)
    tokens = MarkdownIt("commonmark").enable("table").parse(report)
    flat = [item for token in tokens for item in [token, *(token.children or [])]]
    assert not {token.type for token in flat} & {"html_block", "html_inline", "link_open", "image"}
    headings = [tokens[index + 1].content for index, token in enumerate(tokens) if token.type == "heading_open"]
    assert [heading for heading in headings if heading.startswith("Owned")] == []  # no line of its own
    assert {token.info for token in flat if token.type == "fence"} <= {"text", "sh", "mermaid"}
    shown = "".join(token.content for token in flat if token.type in ("text", "code_inline", "fence"))
    assert "<script>alert(1)</script>" in shown and "[bold red]red[/bold red]" in shown  # the words, as text


def test_a_refusal_at_the_upgrade_stops_at_authentication_in_every_sentence() -> None:
    refused = ws_check(classify.handshake_status(401, "no token"), [], name="chat")
    report = render_markdown(make_record(1, "failed", checks=[refused]), None)
    assert "stopped at authentication (depth 1/5)" in section(report, "Summary")
    assert "**chat** (priority 1) stops at authentication:" in section(report, "Next iteration priorities")
