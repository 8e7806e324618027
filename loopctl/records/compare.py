"""Before and after: an iteration's status against the previous probed one, and what moved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopctl.records.record import (
    GATING_PHASES,
    CheckRecord,
    OutcomeRecord,
    PhaseRecord,
    Record,
    Status,
    SuiteRecord,
)

PRIORITIES = (1, 2, 3)

# Where on the request path a depth sits, in words a report can use.
STAGE_NAMES = {
    0: "connection",
    1: "the HTTP upgrade",
    2: "authentication",
    3: "message processing",
    4: "event delivery",
    5: "success",
}


DEPTH_AUTH = 2
# An app refuses credentials either at the upgrade (HTTP 401/403 instead of 101) or after accepting it (a close for
# auth or policy): the same stage, so moving from one delivery to the other is not the exchange getting further.
AUTH_STATUSES = (401, 403)


def stage_of(outcome: OutcomeRecord) -> int:
    """Where on the request path an outcome stopped: its depth, except that an auth refusal at the upgrade is
    authentication (depth 2), as a close for auth after the upgrade is."""
    if outcome.category == "handshake_rejected" and outcome.code in AUTH_STATUSES:
        return DEPTH_AUTH
    return outcome.depth


def delivery(outcome: OutcomeRecord) -> str:
    """How a refusal reached the client: `HTTP 401 at the upgrade`, `close 1008 after the upgrade was accepted`."""
    if outcome.category == "handshake_rejected":
        return f"HTTP {outcome.code} at the upgrade"
    what = f"close {outcome.code}" if outcome.code is not None else outcome.category
    return f"{what} ({outcome.category}) after the upgrade was accepted"


@dataclass(frozen=True)
class PassRate:
    """Checks plus suite tests passed at one priority."""

    priority: int
    passed: int
    total: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.passed / self.total) if self.total else None

    def text(self) -> str:
        return f"{self.passed}/{self.total} ({self.percent}%)" if self.total else "—"


@dataclass(frozen=True)
class CheckChange:
    """One check whose outcome differs between two iterations."""

    name: str
    before: OutcomeRecord | None
    after: OutcomeRecord | None
    impact: str | None


def set_aside(checks: Sequence[CheckRecord]) -> list[CheckRecord]:
    """Failing checks that do not rank the iteration: those that got no answer only because the service's process
    had exited (`after_exit`), while a failing check that did get one (the exchange the exit cut short) ranks it.
    When every failing check is such, none is set aside: the process died and nothing else says why."""
    failing = [check for check in checks if not check.passed]
    return [] if all(check.after_exit for check in failing) else [check for check in failing if check.after_exit]


def failing_in_order(checks: Sequence[CheckRecord]) -> list[CheckRecord]:
    """Failing checks, most blocking first: highest priority, then the shallowest on the request path; the ones set
    aside (see `set_aside`) after all the others."""
    setting_aside = bool(set_aside(checks))  # then every check set aside is one marked after_exit
    failing = [check for check in checks if not check.passed]
    return sorted(failing, key=lambda check: (setting_aside and check.after_exit, check.priority, check.outcome.depth))


def blocking_check(checks: Sequence[CheckRecord]) -> CheckRecord | None:
    """The most blocking failing check: highest priority first, then the shallowest on the request path, never one
    set aside as a consequence of the process's exit while another failing check remains."""
    return next(iter(failing_in_order(checks)), None)


def blocking_outcome(checks: Sequence[CheckRecord]) -> OutcomeRecord | None:
    """The iteration's outcome (stored as `record.outcome`): its most blocking failure, or success."""
    if not checks:
        return None
    worst = blocking_check(checks)
    if worst is None:
        return OutcomeRecord(category="success", depth=5, label="every check passed")
    return worst.outcome


def pass_rates(record: Record) -> list[PassRate]:
    """Per priority: checks and suite tests passed over those run."""
    rates = []
    for priority in PRIORITIES:
        checks = [check for check in record.checks if check.priority == priority]
        suites = [suite for suite in record.suites if suite.priority == priority]
        passed = sum(check.passed for check in checks) + sum(suite.passed for suite in suites)
        total = len(checks) + sum(suite.passed + suite.failed + _unlisted_failure(suite) for suite in suites)
        rates.append(PassRate(priority, passed, total))
    return rates


def _unlisted_failure(suite: SuiteRecord) -> int:
    """A suite that failed with no failing test counted (it exited 3, timed out) counts as one failure."""
    return int(not suite.green and suite.failed == 0)


def iteration_status(record: Record, previous: Record | None, *, aborted: bool = False) -> Status:
    """success, progress, no_change, regression, failed, inconclusive or aborted (see docs/probe-and-outcomes.md)."""
    if aborted:
        return "aborted"
    if any(phase.status == "failed" for phase in record.phases if phase.name in GATING_PHASES):
        return "failed"
    if inconclusive(record):
        return "inconclusive"
    if all_green(record):
        return "success"
    if previous is None:
        return "failed"
    before, after = _score(previous), _score(record)
    return "progress" if after > before else "regression" if after < before else "no_change"


def inconclusive(record: Record) -> bool:
    """No verdict can be given: a check could not run, the probe did not run its checks, or nothing was checked.

    Any priority counts: a check that did not run has no depth to compare, so no status could rank the iteration.
    """
    if not all(check.ran for check in record.checks):
        return True
    probe = record.phase("probe")
    if probe is not None and not any(check.ran for check in record.checks):
        return True  # skipped, or it failed before any check ran: the checks the config asks for say nothing
    if unverified_suites(record):
        return True
    return not verified(record)


def unverified_suites(record: Record) -> list[str]:
    """Why the configured suites say nothing: skipped, failed before any ran, or one that ran no test."""
    phase = record.phase("suites")
    if phase is not None and phase.status == "skipped":
        return [f"the suites were {phase.detail.get('reason', 'skipped')}"]
    if phase is not None and not record.suites:
        return ["the suites phase failed before any suite ran"]
    return [f"{suite.name} ran no test ({suite.skipped} skipped)" for suite in record.suites if suite.ran_no_test]


def verified(record: Record) -> bool:
    """Whether anything was checked at all: a check that ran, or a suite (one that broke or hung tells too)."""
    return any(check.ran for check in record.checks) or bool(record.suites)


def all_green(record: Record) -> bool:
    """Something was checked, and every check and suite passed (zero checks is no evidence of anything)."""
    passed = all(check.passed for check in record.checks) and all(suite.green for suite in record.suites)
    return passed and verified(record)


def check_changes(record: Record, previous: Record) -> list[CheckChange]:
    """Checks whose category or code moved, in the order this iteration lists them."""
    before = {check.name: check for check in previous.checks}
    after = {check.name: check for check in record.checks}
    changes = []
    for name in [*after, *(name for name in before if name not in after)]:
        old, new = before.get(name), after.get(name)
        old_key = (old.outcome.category, old.outcome.code) if old else None
        new_key = (new.outcome.category, new.outcome.code) if new else None
        if old_key != new_key:
            impact = new.impact if new else old.impact if old else None
            changes.append(CheckChange(name, old.outcome if old else None, new.outcome if new else None, impact))
    return changes


def events_in_order(expected: Sequence[str], seen: Sequence[str]) -> int:
    """How many expected events arrived in order: the longest start of `expected` that `seen` contains in order."""
    position = iter(seen)
    count = 0
    for name in expected:
        if name not in position:
            break
        count += 1
    return count


def check_events(check: CheckRecord | None) -> int | None:
    """Expected events received in order by a check that expects some, steps done by a conversation; else None."""
    if check is not None and check.steps is not None:
        return check.steps.done
    if check is None or not check.events_expected:
        return None
    return events_in_order(check.events_expected, check.events_seen)


def reach(outcome: OutcomeRecord, events: int | None = None) -> tuple[int, int]:
    """How far an exchange got, as a rank: the depth up to auth (0–2) and at success (5); after auth (3–4), the
    expected events received in order, whatever the ending: a crash and a silence after the same event rank the
    same (the category still says which it was)."""
    if outcome.depth in (3, 4) and events is not None:
        return (3, events)
    return (stage_of(outcome), 0)


def progress_of(before: CheckRecord | None, after: CheckRecord | None) -> dict[str, Any]:
    """`movement`'s counts for a check in two iterations: events in order, or steps when both hold a conversation."""
    steps = before is not None and after is not None and before.steps is not None and after.steps is not None
    return {"events_before": check_events(before), "events_after": check_events(after), "steps": steps}


def movement(
    before: OutcomeRecord,
    after: OutcomeRecord,
    *,
    events_before: int | None = None,
    events_after: int | None = None,
    steps: bool = False,
) -> str:
    """`moved from authentication to message processing — progress`; with event counts, the ranking by events."""
    if before.passed and after.passed:
        return "still passing"
    rank_before, rank_after = reach(before, events_before), reach(after, events_after)
    stage_before = STAGE_NAMES.get(stage_of(before), f"depth {before.depth}")
    stage_after = STAGE_NAMES.get(stage_of(after), f"depth {after.depth}")
    if rank_before[0] == rank_after[0] == 3 and steps:
        return _steps_movement(after, events_before or 0, events_after or 0)
    if rank_before[0] == rank_after[0] == 3:
        return _events_movement(before, after, events_before or 0, events_after or 0)
    if rank_before == rank_after == (DEPTH_AUTH, 0) and delivery(before) != delivery(after):
        return _redelivered(before, after)
    counts = f" (step {(events_before or 0) + 1} → step {(events_after or 0) + 1})" if steps else ""
    if rank_after > rank_before:
        return f"moved from {stage_before} to {stage_after}{counts} — progress"
    if rank_after < rank_before:
        return f"fell back from {stage_before} to {stage_after}{counts} — regression"
    return f"still failing at {stage_after}, now as {after.category}"


def _steps_movement(after: OutcomeRecord, done_before: int, done_after: int) -> str:
    """`step 2 → step 5 — progress`: the step each conversation stopped at (one past the steps it finished)."""
    counts = f"step {done_before + 1} → step {done_after + 1}"
    if done_after > done_before:
        return f"got further in the conversation: {counts} — progress"
    if done_after < done_before:
        return f"stopped earlier in the conversation: {counts} — regression"
    return f"still stops at step {done_after + 1}, as {after.category}"


def _redelivered(before: OutcomeRecord, after: OutcomeRecord) -> str:
    """The same auth refusal, delivered another way: the line says how, and whether the server's words changed."""
    words = "the same server message" if before.reason == after.reason else "another server message"
    return (
        f"still refused at authentication, with {words}: now delivered as {delivery(after)} "
        f"instead of {delivery(before)} — no progress"
    )


def _events_movement(before: OutcomeRecord, after: OutcomeRecord, events_before: int, events_after: int) -> str:
    counts = f"{events_before} → {events_after} expected events in order"
    if events_after > events_before:
        return f"got further after authentication: {counts} — progress"
    if events_after < events_before:
        return f"stopped earlier after authentication: {counts} — regression"
    if before.category == after.category:
        return f"still failing after {events_after} expected event(s), as {after.category}"
    return (
        f"stops at the same point ({events_after} expected event(s) in order), now as {after.category} "
        f"instead of {before.category}"
    )


def _score(record: Record) -> tuple[int, ...]:
    """Compared lexicographically: per priority, how far the most blocking check got, then how many passed.

    A check set aside as a consequence of the process's exit counts as passed here: the exit is charged to the check
    whose exchange it cut short, so the same crash scores the same whichever check lost the race to it."""
    aside = set_aside(record.checks)
    score: list[int] = []
    for rate in pass_rates(record):
        failing = (
            reach(check.outcome, check_events(check))
            for check in record.checks
            if check.priority == rate.priority and not check.passed and check not in aside
        )
        excused = sum(check.priority == rate.priority for check in aside)
        score += [*min(failing, default=(5, 0)), rate.passed + excused]
    return tuple(score)


def verdict_line(record: Record) -> str:
    """What the status line says after the status: the blocking outcome, why no verdict, or what passed."""
    failing = [suite for suite in record.suites if not suite.green]
    stopped = next((phase for phase in record.phases if phase.status == "aborted" or _gate_failed(phase)), None)
    if stopped is not None and stopped.error is not None:
        return f"{stopped.name} {stopped.status}: {stopped.error.message.strip().splitlines()[0]}"
    if record.outcome is not None and not record.outcome.passed:
        return record.outcome.label or record.outcome.category
    if record.status == "inconclusive":
        not_run = [check.name for check in record.checks if not check.ran]
        why = [f"could not run {', '.join(not_run)}"] if not_run else unverified_suites(record)
        return "; ".join(why) or "nothing was checked"
    if failing:
        first = failing[0]
        return first.error.message if first.error else f"suite {first.name}: {first.failed} test(s) failed"
    tests = sum(suite.passed for suite in record.suites)
    passed = [f"every check passed ({len(record.checks)})"] if record.checks else []
    passed += [f"{tests} suite test(s) passed"] if record.suites else []
    return "; ".join(passed) or "nothing was checked"


def _gate_failed(phase: PhaseRecord) -> bool:
    return phase.status == "failed" and phase.name in GATING_PHASES
