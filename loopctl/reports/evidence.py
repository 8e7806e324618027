"""The report's evidence: the server's own error for each failing check, how it evolved, and what changed since."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from loopctl.outside_text import printable
from loopctl.records.compare import set_aside
from loopctl.records.record import CAUSE_TYPES, UNLEVELLED, Changes, CheckRecord, Record, ServerError
from loopctl.reports.tables import DASH, by_name, code, fence_for, service_cell, several, stage, table, text

NO_ERROR = "no server error logged in the window"
GATEWAY_STATUSES = (502, 503, 504)  # a proxy or the platform may have answered these, not the app
NO_CLOSE_FRAME = (1005, 1006, 1015)  # codes that say no close frame came (or TLS broke): nothing was answered
NO_ERROR_IN_PART = "no server error in the part of the window's log that was read"
NO_ERROR_MEANS = (
    "itself evidence: the app saw nothing wrong, or something before it (a proxy, a timeout, an OOM kill) ended it"
)


def logs_detail(record: Record, service: str | None = None) -> dict[str, Any] | None:
    """What the probe phase said about reading the server's logs; None when it did not try (older records too).

    With several services each probes its own and reads its own logs: `service` names whose.
    """
    probe = next((phase for phase in record.phases if phase.name == "probe" and phase.service == service), None)
    detail = probe.detail.get("evidence") if probe is not None else None
    return detail if isinstance(detail, dict) and detail else None


def raised(error: ServerError) -> str:
    """`server raised TypeError: message (app/ws/auth.py:419)`, for a line of prose (escaped for markdown)."""
    what = said(error)
    verb = "logged" if error.type.isupper() else "raised"  # a severity (ERROR) rather than an exception type
    where = f" ({code(error.location)})" if error.location else ""
    return f"server {verb} {code(what)}{where}"


# What the probe phase appends to a hint when the server logged why (for the terminal, JSON and JUnit, which have no
# Summary); the report quotes the error itself, so it shows the hint without it.
SERVER_LOG_IN_HINT = " The server's log at that time: "


def report_hint(check: CheckRecord) -> str:
    """The check's hint as the report shows it: without the server's line, which the report quotes already."""
    hint = check.outcome.hint
    return hint.partition(SERVER_LOG_IN_HINT)[0] if check.server_error is not None else hint


def said(error: ServerError) -> str:
    """`TypeError: message`; a logged line as it was written, when it names its level itself or has none."""
    if error.type == UNLEVELLED or (error.type.isupper() and error.type in error.message):
        return error.message
    return f"{error.type}: {error.message}" if error.message else error.type


def short_outcome(check: CheckRecord) -> str:
    """`1011 at message processing`: the code (or category) and the stage it stopped at; an HTTP check's status
    is its own answer (a 404 is not a stage of a WebSocket exchange)."""
    outcome = check.outcome
    if check.kind == "http" and outcome.code is not None:
        return f"HTTP {outcome.code}"
    name = str(outcome.code) if outcome.code is not None else text(outcome.category)
    return f"{name} at {stage(outcome.depth)}"


def quoted_error(check: CheckRecord) -> str | None:
    """The Summary's and the priorities' sentence: `1011 at message processing — server raised …`."""
    if check.server_error is None:
        return None
    return f"{short_outcome(check)} — {raised(check.server_error)}"


# ----------------------------------------------------------------------------- failures


def failure_lines(record: Record, check: CheckRecord, *, quoted: bool = False) -> list[str]:
    """The Failures section's evidence for one check: the error and its excerpt, or why there is none; then what
    the services it depends on logged in its window.

    `quoted`: the Summary already quotes this check's error, so only its trace id and log excerpt are added here.
    """
    theirs: list[str] = []
    for service, error in check.dependency_errors.items():
        theirs += ["", f"- **{text(service)} logged**: {raised(error)}"]
        theirs += details_block(f"{service}'s log", error.lines)
    return _own_lines(record, check, quoted=quoted) + theirs


def _own_lines(record: Record, check: CheckRecord, *, quoted: bool) -> list[str]:
    trace = f" (trace {code(check.trace_id)})" if check.trace_id else ""
    detail = logs_detail(record, check.service)
    ended = process_end(record, check.service)
    process = [f"- **Process**: {process_sentence(ended, check)}"] if ended is not None else []
    if check.server_error is not None:
        error = check.server_error
        if quoted:
            lines = [f"- **Trace**: {code(check.trace_id)}"] if check.trace_id else []
        else:
            lines = [f"- **Server error**: {raised(error)}{trace}"]
        lines += process
        source = f" from {printable(str(detail['source']))}" if detail and detail.get("source") else ""
        return lines + _partial_line(detail) + details_block(f"Server log{source}", error.lines)
    if ended is not None:
        last = ended.get("lines")
        kept = [str(line) for line in last] if isinstance(last, list) else []
        return [*process, *details_block("The container's last lines", kept)]
    if detail is None:
        return []
    if not detail.get("read"):
        return [f"- **Server log**: not read — {text(str(detail.get('note') or 'no log source'))}"]
    if detail.get("partial"):
        lines = [f"- **Server log**: {NO_ERROR_IN_PART}{trace}; the rest was not read, so it may hold one"]
        lines += _partial_line(detail)
    elif (answer := server_answer(check)) is not None:
        lines = [f"- **Server log**: no line in the window says why{trace}; the server's own answer: {code(answer)}"]
    else:
        lines = [f"- **Server log**: {NO_ERROR}{trace} — {NO_ERROR_MEANS}"]
    return lines + ([f"- **Log note**: {text(str(detail['note']))}"] if detail.get("note") else [])


def server_answer(check: CheckRecord) -> str | None:
    """What the server itself answered (a close it sent, an HTTP status but a gateway's), or None when nothing came
    back: only then can a proxy, a timeout or an OOM kill be what ended the check."""
    outcome = check.outcome
    if outcome.code is None:
        return None
    if outcome.code < 1000:
        return None if outcome.code in GATEWAY_STATUSES else " ".join(f"HTTP {outcome.code} {outcome.reason}".split())
    if outcome.origin == "server" and outcome.code not in NO_CLOSE_FRAME:
        return " ".join(f"{outcome.code} {outcome.reason}".split())
    return None


def process_end(record: Record, service: str | None = None) -> dict[str, Any] | None:
    """How the service's process ended during the probe (docker target), when it did."""
    detail = logs_detail(record, service)
    ended = detail.get("process") if detail else None
    return ended if isinstance(ended, dict) else None


def process_summary(record: Record) -> list[str]:
    """The Summary's line for a process that died: a crash is said as a crash, not guessed from a close code; the
    checks that failed only because it had exited are named, as they do not rank the iteration."""
    lines = []
    for service in dict.fromkeys(phase.service for phase in record.phases if phase.name == "probe"):
        ended = process_end(record, service)
        if ended is None:
            continue
        aside = [check for check in set_aside(record.checks) if check.service == service]
        named = ", ".join(f"**{text(check.name)}**" for check in aside)
        after = f"; {named} failed only because it had exited" if named else ""
        whose = f" of **{text(service)}**" if several(record) and service else ""
        lines += [f"**Process**{whose}: {process_sentence(ended, None)}{after}", ""]
    return lines


def process_sentence(ended: dict[str, Any], check: CheckRecord | None) -> str:
    """`the process exited with code 1, 0.3 s after this check started`; OOM kills and restarts said as such."""
    exit_code = ended.get("exit_code")
    if ended.get("oom_killed"):
        known = f", exit code {exit_code}" if exit_code is not None else ""
        what = f"the process was killed for lack of memory (OOMKilled{known})"
    else:
        what = f"the process exited with code {exit_code}" if exit_code is not None else "the process ended"
    restarts = ended.get("restarts") if isinstance(ended.get("restarts"), int) else 0  # a record may be edited
    if restarts:
        what += f"; the engine restarted it {restarts} time{'s' if restarts != 1 else ''}"
    finished, started = _moment(ended.get("finished_at")), _moment(check.started_at if check else None)
    if finished is not None and started is not None and restarts == 0:
        what += f", {max(0.0, (finished - started).total_seconds()):.1f} s after this check started"
    elif finished is not None:
        what += f" (at {finished.strftime('%H:%M:%S')} UTC)"
    return text(what)


def _moment(stamp: Any) -> datetime | None:
    """An RFC 3339 time (the engine writes nanoseconds) as an aware datetime; None when there is none."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _partial_line(detail: dict[str, Any] | None) -> list[str]:
    """What part of the window's log was read, when the read was cut."""
    if not detail or not detail.get("partial"):
        return []
    return [f"- **Log read**: {text(str(detail['partial']))} (the part between was not read)"]


def details_block(summary: str, lines: Sequence[str]) -> list[str]:
    """A collapsed `<details>` block holding the lines verbatim in a fence no backtick run in them can close."""
    if not lines:
        return []
    lines = [" ".join(printable(line).splitlines()) for line in lines]  # a record may have been edited since
    fence = fence_for("\n".join(lines))
    label = printable(summary).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    summary_line = f"<summary>{' '.join(label.split())} ({len(lines)} lines)</summary>"
    return ["", "<details>", summary_line, "", f"{fence}text", *lines, fence, "", "</details>"]


# ----------------------------------------------------------------------------- evolution


def evolution_lines(record: Record, previous: Record) -> list[str]:
    """Per check, how the server's error moved since `previous` (the seed's "Error Evolution")."""
    lines = []
    earlier = by_name(previous.checks)
    for check in record.checks:
        before = earlier.get(check.name)
        if before is not None and (sentence := _evolution(before, check, previous, record)):
            lines.append(f"- **{text(check.name)}**: {sentence}")
    return lines


def _evolution(before: CheckRecord, after: CheckRecord, previous: Record, record: Record) -> str | None:
    old, new = _error_only(before.server_error), _error_only(after.server_error)
    if old is not None and new is not None:
        if (old.type, old.message) == (new.type, new.message):
            return f"same exception as iteration {previous.number}: {code(new.type)}"
        if old.type != new.type:
            return f"server error changed: {code(old.type)} → {code(new.type)}"
        return f"server error changed: {code(old.type)}, new message {code(new.message)}"
    if old is not None:
        if after.passed:
            return f"no server error any more (it was {code(old.type)}); the check passes"
        return f"no server error any more (it was {code(old.type)})" if _read(record, after.service) else None
    if new is not None and (before.passed or _read(previous, before.service)):
        return f"new server error: {code(new.type)}"
    return None


def _error_only(error: ServerError | None) -> ServerError | None:
    """A quoted warning or plain line says why a server refused; it is no server error to track the evolution of."""
    return None if error is None or error.type in CAUSE_TYPES else error


def _read(record: Record, service: str | None) -> bool:
    """Whether the whole window's log was read: only then does its silence say anything."""
    detail = logs_detail(record, service)
    return bool(detail and detail.get("read") and not detail.get("partial"))


# ----------------------------------------------------------------------------- changes


def changes_section(record: Record) -> list[str]:
    """`## Changes since iteration N`: commits, files with lines added and removed, config keys changed."""
    changes = record.changes
    if changes is None:
        return []
    lines = [f"## Changes since iteration {changes.since}", ""]
    if not changes.in_git:
        moved = {True: "changed", False: "unchanged", None: "not compared (no build)"}[changes.input_changed]
        return [*lines, f"{text(changes.note or 'not a git work tree')}. Build context input digest: {moved}."]
    lines += _commit_lines(record, changes)
    lines += _file_lines(changes, by_service=several(record))
    lines += _config_line(changes)
    if changes.note:
        lines += ["", f"Note: {text(changes.note)}."]
    return lines


def _commit_lines(record: Record, changes: Changes) -> list[str]:
    start = code(changes.from_commit[:7]) if changes.from_commit else DASH
    end = code(record.git.short or DASH)
    listed = len(changes.commits)
    count = max(changes.commit_count or 0, listed)
    moved = f"{count} commit{'s' if count != 1 else ''}" + (f" (the newest {listed} listed)" if count > listed else "")
    if changes.commits_back:
        back = f"went back {changes.commits_back} commit{'s' if changes.commits_back != 1 else ''}"
        moved = (
            back
            if not count
            else f"{moved}, after going back {changes.commits_back} (another branch, or history rewritten)"
        )
    lines = [f"From {start} to {end}: {moved}" + (":" if listed else ".")]
    if listed:
        lines += ["", *(f"- {code(subject)}" for subject in changes.commits)]
    return [*lines, ""]


def _file_lines(changes: Changes, *, by_service: bool) -> list[str]:
    """The files changed; with several services, whose build context each is in (none: the config, or outside)."""
    if not changes.files:
        return ["No file changed under the build context or in the config."]
    rows = [[code(item.path), _count(item.added, "+"), _count(item.removed, "−")] for item in changes.files]
    if not by_service:
        return table(["File", "Added", "Removed"], rows)
    owners = [service_cell(item.service) for item in changes.files]
    return table(
        ["File", "Service", "Added", "Removed"],
        [[row[0], owner, *row[1:]] for row, owner in zip(rows, owners, strict=True)],
    )


def _config_line(changes: Changes) -> list[str]:
    if changes.config_changed is None:
        return []
    if not changes.config_changed:
        return ["", "Config: unchanged."]
    return ["", "Config changed: " + ", ".join(code(key) for key in changes.config_changed) + "."]


def _count(value: int | None, sign: str) -> str:
    return "binary" if value is None else f"{sign}{value}"
