"""The report's evidence: the server's own error for each failing check, how it evolved, and what changed since."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopctl.outside import printable
from loopctl.records.compare import STAGE_NAMES
from loopctl.records.record import Changes, CheckRecord, Record, ServerErrorRecord
from loopctl.reports.tables import DASH, code, fence_for, table, text

NO_ERROR = "no server error logged in the window"
NO_ERROR_MEANS = (
    "itself evidence: the app saw nothing wrong, or something before it (a proxy, a timeout, an OOM kill) ended it"
)


def logs_detail(record: Record) -> dict[str, Any] | None:
    """What the probe phase said about reading the server's logs; None when it did not try (older records too)."""
    probe = record.phase("probe")
    detail = probe.detail.get("evidence") if probe is not None else None
    return detail if isinstance(detail, dict) and detail else None


def raised(error: ServerErrorRecord) -> str:
    """`server raised TypeError: message (app/ws/auth.py:419)`, for a line of prose (escaped for markdown)."""
    what = f"{error.type}: {error.message}" if error.message else error.type
    verb = "logged" if error.type.isupper() else "raised"  # a severity (ERROR) rather than an exception type
    where = f" ({code(error.location)})" if error.location else ""
    return f"server {verb} {code(what)}{where}"


def short_outcome(check: CheckRecord) -> str:
    """`1011 at message processing`: the code (or category) and the stage it stopped at."""
    outcome = check.outcome
    name = str(outcome.code) if outcome.code is not None else text(outcome.category)
    return f"{name} at {STAGE_NAMES.get(outcome.depth, f'depth {outcome.depth}')}"


def quoted_error(check: CheckRecord) -> str | None:
    """The Summary's and the priorities' sentence: `1011 at message processing — server raised …`."""
    if check.server_error is None:
        return None
    return f"{short_outcome(check)} — {raised(check.server_error)}"


# ----------------------------------------------------------------------------- failures


def failure_lines(record: Record, check: CheckRecord, *, quoted: bool = False) -> list[str]:
    """The Failures section's evidence for one check: the error and its excerpt, or why there is none.

    `quoted`: the Summary already quotes this check's error, so only its trace id and log excerpt are added here.
    """
    trace = f" (trace {code(check.trace_id)})" if check.trace_id else ""
    detail = logs_detail(record)
    if check.server_error is not None:
        error = check.server_error
        if quoted:
            lines = [f"- **Trace**: {code(check.trace_id)}"] if check.trace_id else []
        else:
            lines = [f"- **Server error**: {raised(error)}{trace}"]
        source = f" from {printable(str(detail['source']))}" if detail and detail.get("source") else ""
        return lines + details_block(f"Server log{source}", error.lines)
    if detail is None:
        return []
    if not detail.get("read"):
        return [f"- **Server log**: not read — {text(str(detail.get('note') or 'no log source'))}"]
    lines = [f"- **Server log**: {NO_ERROR}{trace} — {NO_ERROR_MEANS}"]
    return lines + ([f"- **Log note**: {text(str(detail['note']))}"] if detail.get("note") else [])


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
    for check in record.checks:
        before = next((item for item in previous.checks if item.name == check.name), None)
        if before is not None and (sentence := _evolution(before, check, previous, record)):
            lines.append(f"- **{text(check.name)}**: {sentence}")
    return lines


def _evolution(before: CheckRecord, after: CheckRecord, previous: Record, record: Record) -> str | None:
    old, new = before.server_error, after.server_error
    if old is not None and new is not None:
        if (old.type, old.message) == (new.type, new.message):
            return f"same exception as iteration {previous.number}: {code(new.type)}"
        if old.type != new.type:
            return f"server error changed: {code(old.type)} → {code(new.type)}"
        return f"server error changed: {code(old.type)}, new message {code(new.message)}"
    if old is not None:
        if after.passed:
            return f"no server error any more (it was {code(old.type)}); the check passes"
        return f"no server error any more (it was {code(old.type)})" if _read(record) else None
    if new is not None and (before.passed or _read(previous)):
        return f"new server error: {code(new.type)}"
    return None


def _read(record: Record) -> bool:
    detail = logs_detail(record)
    return bool(detail and detail.get("read"))


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
    lines += _file_lines(changes)
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


def _file_lines(changes: Changes) -> list[str]:
    if not changes.files:
        return ["No file changed under the build context or in the config."]
    rows = [[code(item.path), _count(item.added, "+"), _count(item.removed, "−")] for item in changes.files]
    return table(["File", "Added", "Removed"], rows)


def _config_line(changes: Changes) -> list[str]:
    if changes.config_changed is None:
        return []
    if not changes.config_changed:
        return ["", "Config: unchanged."]
    return ["", "Config changed: " + ", ".join(code(key) for key in changes.config_changed) + "."]


def _count(value: int | None, sign: str) -> str:
    return "binary" if value is None else f"{sign}{value}"
