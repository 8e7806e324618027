"""The report's Failures and Next iteration priorities: what failed, most blocking first, and what to do about it."""

from __future__ import annotations

from collections.abc import Sequence

from loopctl.records.compare import blocking_check, failing_in_order, set_aside
from loopctl.records.record import CheckRecord, PhaseRecord, Record, SuiteRecord
from loopctl.reports.evidence import failure_lines, report_hint
from loopctl.reports.tables import (
    arrived,
    by_service,
    code,
    fenced_details,
    headline,
    owned_name,
    several,
    stage,
    stage_reached,
    text,
)

FAILURE_LIST_LIMIT = 10
AFTER_EXIT = "it got no answer because the service's process had exited (see Process)"
SET_ASIDE = "; a consequence of the exit, so the check whose exchange the exit cut short ranks the iteration"


def quoted_check(record: Record) -> CheckRecord | None:
    """The check whose server error the Summary quotes (the blocking one, else the first with one): said once."""
    blocking = blocking_check(record.checks)
    quoted = [check for check in failing_checks(record) if check.server_error is not None]
    return blocking if blocking is not None and blocking.server_error is not None else next(iter(quoted), None)


def failing_checks(record: Record) -> list[CheckRecord]:
    """Failing checks, most blocking first (the order that ranks the iteration)."""
    return failing_in_order(record.checks)


def failing_suites(record: Record) -> list[SuiteRecord]:
    return sorted((suite for suite in record.suites if not suite.green), key=lambda suite: suite.priority)


def stopped_phases(record: Record) -> list[PhaseRecord]:
    return [phase for phase in record.phases if phase.status in ("failed", "aborted") and phase.error is not None]


def lead(message: str) -> str:
    """A message's first line; when it introduces lines that follow (`…its log:`), say where they are."""
    first = headline(message)
    if first.endswith(":") and fenced_details(message):
        return f"{first[:-1]} (under Failures)"
    return first


def failures_section(record: Record) -> list[str]:
    lines = ["## Failures", ""]
    for phase in stopped_phases(record):
        assert phase.error is not None
        error = phase.error
        name = text(owned_name(record, phase.service, phase.name))
        lines += [f"### {name} (phase)", "", f"- **Error**: {text(error.kind)}: {headline(error.message)}"]
        lines += ["", *fenced_details(phase.error.message)]
    quoted = quoted_check(record)
    aside = bool(set_aside(record.checks))  # then every failing check after the exit is set aside
    for check in failing_checks(record):
        name = text(owned_name(record, check.service, check.name))
        lines += [f"### {name} (priority {check.priority})", "", *_check_failure(check)]
        lines += _after_exit(check, aside)
        lines += [*failure_lines(record, check, quoted=check is quoted), ""]
    for suite in failing_suites(record):
        lines += [f"### {text(suite.name)} (suite, priority {suite.priority})", "", *_suite_failure(suite), ""]
    return lines if len(lines) > 2 else [*lines, "None."]


def _after_exit(check: CheckRecord, aside: bool) -> list[str]:
    """Why a check got no answer when the process had exited, and whether that sets it aside from the ranking."""
    if not check.after_exit:
        return []
    return [f"- **After the exit**: {AFTER_EXIT}{SET_ASIDE if aside else ''}"]


def _check_failure(check: CheckRecord) -> list[str]:
    outcome = check.outcome
    if check.error is not None:
        return [f"- **Could not run**: {text(check.error.kind)}: {text(check.error.message)}"]
    number = str(outcome.code) if outcome.code is not None else "no code"
    lines = [
        f"- **Outcome**: {code(outcome.category)} at depth {outcome.depth}/5 ({stage(outcome.depth)})",
        f"- **Code**: {number} — {code(outcome.label or outcome.category)}",
    ]
    if outcome.reason:
        lines.append(f"- **Reason**: {code(outcome.reason)}")
    if outcome.origin:
        lines.append(f"- **Origin**: {text(outcome.origin)}")
    if check.events_expected:
        missing = [name for name in check.events_expected if not arrived(check, name)]
        lines.append(f"- **Events seen**: {_events_seen(check)}")
        lines.append(f"- **Events missing**: {_event_list(missing)}")
    lines += _steps_lines(check)
    if check.frames_ignored:
        lines.append(f"- **Frames ignored**: {check.frames_ignored} (binary, or not JSON objects with the event field)")
    return lines


def _event_list(names: Sequence[str]) -> str:
    return ", ".join(code(name) for name in names) if names else "none"


def _events_seen(check: CheckRecord) -> str:
    """The names seen; when the record kept only some (the first, the last, the expected ones), how many came."""
    seen, total = check.events_seen, check.events_count
    if total is None or total <= len(seen):
        return _event_list(seen)
    return f"{_event_list(seen)} ({len(seen)} of {total} kept: the first, the last and the expected ones)"


def _steps_lines(check: CheckRecord) -> list[str]:
    """A conversation's step reached, the payload that did not fit, what came instead, the values captured."""
    steps = check.steps
    if steps is None:
        return []
    lines = [f"- **Step reached**: {code(steps.where)} ({steps.done}/{steps.total} steps done)"]
    if steps.mismatch:
        lines.append(f"- **Payload mismatch**: {code(steps.mismatch)}")
    if steps.instead:
        lines.append(f"- **Came instead**: {', '.join(code(frame) for frame in steps.instead)}")
    if steps.captured:
        values = ", ".join(f"{text(name)} = {code(value)}" for name, value in steps.captured.items())
        lines.append(f"- **Captured**: {values}")
    return lines


def _suite_failure(suite: SuiteRecord) -> list[str]:
    exit_code = f" (exit code {suite.exit_code})" if suite.exit_code is not None else ""
    lines = [f"- **Result**: {suite.passed} passed, {suite.failed} failed, {suite.skipped} skipped{exit_code}"]
    if suite.error is not None:
        hint = f" — {text(suite.error.hint)}" if suite.error.hint else ""
        lines.append(f"- **Error**: {text(suite.error.kind)}: {text(suite.error.message)}{hint}")
    shown = suite.failures[:FAILURE_LIST_LIMIT]
    lines += [f"- {code(failure.test)}: {code(failure.message)}" for failure in shown]
    more = max(suite.failed, len(suite.failures)) - len(shown)
    if more > 0 and shown:
        lines.append(f"- and {more} more")
    return lines


def priorities_section(record: Record) -> list[str]:
    phases = [(phase.service, _phase_item(phase)) for phase in stopped_phases(record)]
    checks = [(check.service, _check_item(check)) for check in failing_checks(record)]
    items = [*phases, *checks, *((None, _suite_item(suite)) for suite in failing_suites(record))]
    if items and several(record):
        body = _grouped_items(record, items)
    elif items:
        body = [f"{index}. {item}" for index, (_, item) in enumerate(items, start=1)]
    elif not record.checks and not record.suites:
        body = ["Nothing was probed in this iteration: no failures to rank."]
    else:
        body = ["Nothing failing. Keep this iteration as the known-good baseline."]
    return ["## Next iteration priorities", "", *body]


def _grouped_items(record: Record, items: Sequence[tuple[str | None, str]]) -> list[str]:
    """Several services: a sub-heading per service in deploy order (a dependency's failure often explains its
    dependents'), then the project's suites; one numbering throughout, so the order to work in stays one list."""
    lines: list[str] = []
    number = 0
    for service, owned in by_service(record, items, lambda item: item[0]):
        heading = f"### {text(service)}" if service else "### Project (suites)"
        lines += ["", heading, ""] if lines else [heading, ""]
        for _, item in owned:
            number += 1
            lines.append(f"{number}. {item}")
    return lines


def _phase_item(phase: PhaseRecord) -> str:
    assert phase.error is not None
    # The Summary and Failures already say what failed: here, what to do about it.
    what = text(phase.error.hint) if phase.error.hint else lead(phase.error.message)
    return f"**{text(phase.name)}** {phase.status}: {what}"


def _check_item(check: CheckRecord) -> str:
    if check.error is not None:
        hint = f" — {text(check.error.hint)}" if check.error.hint else ""
        return f"**{text(check.name)}** (priority {check.priority}) could not run: {text(check.error.message)}{hint}"
    outcome = check.outcome
    hint = f" — {text(report_hint(check))}" if report_hint(check) else ""
    if check.after_exit:
        hint = " — the service's process had exited: what made it exit comes first"
    label = code(outcome.label or outcome.category)
    return f"**{text(check.name)}** (priority {check.priority}) stops at {stage_reached(outcome)}: {label}{hint}"


def _suite_item(suite: SuiteRecord) -> str:
    first = f", first {code(suite.failures[0].test)}" if suite.failures else ""
    error = f"; {text(suite.error.message)}" if suite.error else ""
    hint = f" — {text(suite.error.hint)}" if suite.error and suite.error.hint else ""
    return f"**{text(suite.name)}** suite (priority {suite.priority}): {suite.failed} failed{first}{error}{hint}"
