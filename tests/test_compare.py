"""Iteration status against the previous probed iteration, table-driven."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopctl.probe import classify
from loopctl.records.compare import (
    blocking_check,
    blocking_outcome,
    check_changes,
    events_in_order,
    failing_in_order,
    iteration_status,
    movement,
    pass_rates,
    stage_of,
)
from loopctl.records.record import Record
from loopctl.records.store import Store
from tests.support.records import EVENTS, all_events, closed, http_check, make_record, phases, ws_check

AUTH = closed(1008, "Authentication failed")
INTERNAL = closed(1011, "Internal error", ["agent_started"])
PARTIAL = closed(1000, "", ["agent_started", "agent_thinking", "tool_executing"])
GREEN = all_events()
HEALTH = http_check()
HEALTH_DOWN = http_check(status=503)
CRASHED = closed(1006, "", ["agent_started"])  # the message made the process exit after the first event
REFUSED = {**HEALTH, "passed": False, "outcome": classify.connect_failure("connection_refused", "refused").model_dump()}
HEALTH_GONE = {**REFUSED, "after_exit": True}  # refused because the process had exited (the probe saw it exit)


def rec(number: int, *checks: dict[str, object], **fields: object) -> Record:
    return make_record(number, "failed", checks=list(checks), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "after", "status"),
    [
        (None, [HEALTH, GREEN], "success"),
        (None, [HEALTH, AUTH], "failed"),
        ([HEALTH, AUTH], [HEALTH, INTERNAL], "progress"),
        ([HEALTH, INTERNAL], [HEALTH, PARTIAL], "progress"),
        ([HEALTH, INTERNAL], [HEALTH, INTERNAL], "no_change"),
        ([HEALTH, INTERNAL], [HEALTH, AUTH], "regression"),
        ([HEALTH, GREEN], [HEALTH, AUTH], "regression"),
        ([HEALTH_DOWN, INTERNAL], [HEALTH, INTERNAL], "progress"),  # same depth, one more check passed
        ([HEALTH, INTERNAL], [HEALTH_DOWN, INTERNAL], "regression"),
        ([HEALTH, AUTH], [HEALTH, GREEN], "success"),
    ],
)
def test_status_against_the_previous_iteration(
    before: list[dict[str, object]] | None, after: list[dict[str, object]], status: str
) -> None:
    previous = rec(1, *before) if before is not None else None
    assert iteration_status(rec(2, *after), previous) == status


def test_a_p1_fix_is_progress_even_when_a_p3_check_now_fails_earlier() -> None:
    before = rec(1, closed(1008, "Authentication failed"), http_check("docs", priority=3))
    after = rec(2, all_events(), http_check("docs", priority=3, status=404))
    assert iteration_status(after, before) == "progress"


def test_failed_gating_phases_and_aborts_win_over_everything() -> None:
    broken_deploy = make_record(2, "failed", checks=[HEALTH, GREEN], phase_rows=phases(deploy={"status": "failed"}))
    assert iteration_status(broken_deploy, rec(1, HEALTH, AUTH)) == "failed"
    assert iteration_status(rec(2, HEALTH, GREEN), None, aborted=True) == "aborted"


def test_the_previous_iteration_is_the_latest_earlier_one_that_probed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save(rec(1, HEALTH, AUTH), None)
    store.save(make_record(2, "failed", phase_rows=phases(build={"status": "failed"})), None)
    store.save(rec(4, HEALTH, INTERNAL), None)
    previous = store.previous_probed(4)
    assert previous is not None and previous.number == 1
    assert store.previous_probed(1) is None


def test_blocking_outcome_is_the_highest_priority_shallowest_failure() -> None:
    outcome = blocking_outcome(rec(1, http_check("docs", priority=2, status=503), INTERNAL).checks)
    assert outcome is not None and outcome.code == 1011
    green = blocking_outcome(rec(1, HEALTH, GREEN).checks)
    assert green is not None and green.category == "success"


def test_changes_and_movement_words() -> None:
    changes = check_changes(rec(2, HEALTH, INTERNAL), rec(1, HEALTH, AUTH))
    assert [change.name for change in changes] == ["chat-events"]
    before, after = changes[0].before, changes[0].after
    assert before is not None and after is not None
    assert movement(before, after) == "moved from authentication to message processing — progress"
    assert movement(after, before) == "fell back from message processing to authentication — regression"


def test_pass_rates_count_checks_and_suite_tests_per_priority() -> None:
    suite = {"name": "e2e", "priority": 1, "passed": 21, "failed": 2}
    record = make_record(1, "failed", checks=[HEALTH, AUTH], suites=[suite])
    rates = {rate.priority: rate.text() for rate in pass_rates(record)}
    assert rates[1] == "22/25 (88%)"
    assert rates[2] == "—"


INTERNAL_3 = closed(1011, "Internal error", ["agent_started", "agent_thinking", "tool_executing"])
DROPPED_1 = closed(1006, "", ["agent_started"])
SILENT_1 = ws_check(classify.silence(5, expected=EVENTS, seen=["agent_started"]), ["agent_started"])


@pytest.mark.parametrize(
    ("before", "after", "status"),
    [
        (INTERNAL, INTERNAL_3, "progress"),  # same depth, 1/5 → 3/5 expected events
        (INTERNAL_3, INTERNAL, "regression"),
        (DROPPED_1, SILENT_1, "no_change"),  # crash → hang after the same event: the same stage
        (SILENT_1, DROPPED_1, "no_change"),
        (SILENT_1, INTERNAL_3, "progress"),  # a crash further on beats a silence earlier
        (PARTIAL, INTERNAL, "regression"),
    ],
)
def test_after_auth_the_events_received_in_order_rank_the_exchange(
    before: dict[str, object], after: dict[str, object], status: str
) -> None:
    assert iteration_status(rec(2, HEALTH, after), rec(1, HEALTH, before)) == status


def test_movement_words_count_events_and_keep_the_ending() -> None:
    dropped, silent, internal_3 = (rec(1, check).checks[0].outcome for check in (DROPPED_1, SILENT_1, INTERNAL_3))
    assert (
        movement(dropped, silent, events_before=1, events_after=1)
        == "stops at the same point (1 expected event(s) in order), now as missing_events instead of abnormal_closure"
    )
    assert (
        movement(dropped, internal_3, events_before=1, events_after=3)
        == "got further after authentication: 1 → 3 expected events in order — progress"
    )
    assert movement(internal_3, dropped, events_before=3, events_after=1).endswith("— regression")


def test_events_in_order_count_the_start_of_the_expected_sequence() -> None:
    assert events_in_order(["a", "b", "c"], ["a", "b", "c"]) == 3
    assert events_in_order(["a", "b", "c"], ["a", "x", "c", "b"]) == 2
    assert events_in_order(["a", "b", "c"], ["b", "c"]) == 0


NOT_RUN = {
    **http_check("chat"),
    "passed": False,
    "outcome": {"category": "not_run", "depth": 0, "label": "could not run: no token"},
    "error": {"kind": "secret", "message": "environment variable T is not set"},
}


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (rec(2, HEALTH, NOT_RUN), "a check whose token could not be read"),
        (rec(2, GREEN, {**NOT_RUN, "priority": 3}), "a check of any priority that did not run"),
        (rec(2, phase_rows=phases(probe={"status": "skipped"})), "the probe skipped"),
        (
            rec(2, phase_rows=phases(probe={"status": "failed", "error": {"kind": "internal_error", "message": "x"}})),
            "the probe crashed before any check",
        ),
        (rec(2, phase_rows=phases()[:3]), "no check and no suite at all"),
    ],
)
def test_an_iteration_without_a_full_verdict_is_inconclusive_never_success(record: Record, why: str) -> None:
    assert iteration_status(record, rec(1, HEALTH, GREEN)) == "inconclusive", why
    assert iteration_status(record, None) == "inconclusive", why


def test_an_inconclusive_iteration_is_never_what_the_next_one_compares_with(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for record in (rec(1, HEALTH, AUTH), make_record(2, "inconclusive", checks=[HEALTH, NOT_RUN])):
        store.save(record, None)
    previous = store.previous_probed(3)
    assert previous is not None and previous.number == 1


def test_a_suite_alone_is_something_checked() -> None:
    suite = {"name": "e2e", "passed": 3}
    assert iteration_status(make_record(1, "failed", suites=[suite], phase_rows=phases()[:3]), None) == "success"


REFUSED_AT_UPGRADE = ws_check(classify.handshake_status(401, "Authentication failed"), [])
REFUSED_OTHERWISE = ws_check(classify.handshake_status(401, "token expired"), [])


@pytest.mark.parametrize(
    ("before", "after", "status"),
    [
        (REFUSED_AT_UPGRADE, AUTH, "no_change"),
        (AUTH, REFUSED_AT_UPGRADE, "no_change"),
        (REFUSED_OTHERWISE, AUTH, "no_change"),
        (REFUSED_AT_UPGRADE, INTERNAL, "progress"),
        (INTERNAL, REFUSED_AT_UPGRADE, "regression"),
    ],
)
def test_an_auth_refusal_moving_between_the_upgrade_and_a_close_is_not_progress(
    before: dict[str, object], after: dict[str, object], status: str
) -> None:
    assert iteration_status(rec(2, HEALTH, after), rec(1, HEALTH, before)) == status


def test_the_movement_says_how_the_same_refusal_is_now_delivered() -> None:
    (change,) = check_changes(rec(2, HEALTH, AUTH), rec(1, HEALTH, REFUSED_AT_UPGRADE))
    assert change.before is not None and change.after is not None and stage_of(change.before) == stage_of(change.after)
    assert movement(change.before, change.after) == (
        "still refused at authentication, with the same server message: now delivered as close 1008 "
        "(policy_violation) after the upgrade was accepted instead of HTTP 401 at the upgrade — no progress"
    )
    (other,) = check_changes(rec(2, HEALTH, AUTH), rec(1, HEALTH, REFUSED_OTHERWISE))
    assert other.before is not None and other.after is not None
    assert "with another server message" in movement(other.before, other.after)


@pytest.mark.parametrize(
    ("before", "after", "status"),
    [
        ([HEALTH, AUTH], [HEALTH_GONE, CRASHED], "progress"),  # the crash ranks, not the refusal it caused
        ([HEALTH, CRASHED], [HEALTH_GONE, CRASHED], "no_change"),  # the same crash, whichever check lost the race
        ([HEALTH_GONE, CRASHED], [HEALTH, CRASHED], "no_change"),
        ([HEALTH, {**AUTH, "priority": 2}], [HEALTH_GONE, {**CRASHED, "priority": 2}], "progress"),
        ([HEALTH, AUTH], [REFUSED, CRASHED], "regression"),  # no exit seen: a refusal is the shallowest failure
        ([HEALTH, GREEN], [HEALTH_GONE, GREEN], "regression"),  # nothing else failed: the exit itself ranks
    ],
)
def test_a_check_that_failed_only_because_the_process_exited_does_not_rank(
    before: list[dict[str, object]], after: list[dict[str, object]], status: str
) -> None:
    assert iteration_status(rec(2, *after), rec(1, *before)) == status


def test_the_check_the_exit_cut_short_is_the_blocking_one_and_the_consequence_comes_last() -> None:
    record = rec(2, HEALTH_GONE, CRASHED)
    assert [check.name for check in failing_in_order(record.checks)] == ["chat-events", "health"]
    assert record.outcome == record.checks[1].outcome and record.outcome.code == 1006
    alone = rec(3, HEALTH_GONE, GREEN)
    blocking = blocking_check(alone.checks)
    assert blocking is not None and blocking.name == "health"


def test_a_record_from_before_the_mark_loads_with_no_check_after_the_exit() -> None:
    raw = rec(1, REFUSED, CRASHED).model_dump(mode="json", by_alias=True)
    for check in raw["checks"]:
        del check["after_exit"]
    loaded = Record.model_validate(raw)
    assert [check.after_exit for check in loaded.checks] == [False, False]
    assert blocking_outcome(loaded.checks) == loaded.checks[0].outcome
