"""Before and after: an iteration's status against the previous probed one, and what moved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loopctl.records.record import GATING_PHASES, CheckRecord, OutcomeRecord, Record, Status

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

    @property
    def direction(self) -> str:
        before = self.before.depth if self.before else -1
        after = self.after.depth if self.after else -1
        return "progress" if after > before else "regression" if after < before else "changed"


def blocking_check(checks: Sequence[CheckRecord]) -> CheckRecord | None:
    """The most blocking failing check: highest priority first, then the shallowest on the request path."""
    failing = [check for check in checks if not check.passed]
    return min(failing, key=lambda check: (check.priority, check.outcome.depth), default=None)


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
        total = len(checks) + sum(suite.passed + suite.failed for suite in suites)
        rates.append(PassRate(priority, passed, total))
    return rates


def iteration_status(record: Record, previous: Record | None, *, aborted: bool = False) -> Status:
    """success, progress, no_change, regression, failed or aborted (rules in the README)."""
    if aborted:
        return "aborted"
    if any(phase.status == "failed" for phase in record.phases if phase.name in GATING_PHASES):
        return "failed"
    if all_green(record):
        return "success"
    if previous is None:
        return "failed"
    before, after = _score(previous), _score(record)
    return "progress" if after > before else "regression" if after < before else "no_change"


def all_green(record: Record) -> bool:
    return all(check.passed for check in record.checks) and all(suite.green for suite in record.suites)


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


def movement(before: OutcomeRecord, after: OutcomeRecord) -> str:
    """`moved from authentication to message processing — progress`."""
    if before.passed and after.passed:
        return "still passing"
    stage_before = STAGE_NAMES.get(before.depth, f"depth {before.depth}")
    stage_after = STAGE_NAMES.get(after.depth, f"depth {after.depth}")
    if after.depth > before.depth:
        return f"moved from {stage_before} to {stage_after} — progress"
    if after.depth < before.depth:
        return f"fell back from {stage_before} to {stage_after} — regression"
    return f"still failing at {stage_after}, now as {after.category}"


def _score(record: Record) -> tuple[int, ...]:
    """Compared lexicographically: per priority, the most blocking depth, then how many passed."""
    score: list[int] = []
    for rate in pass_rates(record):
        failing = (
            check.outcome.depth for check in record.checks if check.priority == rate.priority and not check.passed
        )
        score += [min(failing, default=5), rate.passed]
    return tuple(score)
