"""Records as the MCP tools return them: the one place that knows which record fields an agent is shown."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loopctl.exitcodes import for_record
from loopctl.outside_text import clip, one_line
from loopctl.records.compare import blocking_check, check_changes, check_events, movement, progress_of
from loopctl.records.record import CheckRecord, Record, ServiceRecord
from loopctl.records.sections import BuildSection, DeploySection, PushSection
from loopctl.reports.services import image_digest, sections_of
from loopctl.reports.tables import service_order

# A tool result stays under about 8,000 tokens (~32 KB of JSON): each list is paged within its share of that,
# and a page ends early when its items are large; `next_cursor` continues it.
RESULT_BUDGET = 32_000
LIST_BUDGET = 14_000  # the share of one paged list (a result pages one; a diff two, each at half)
PAGE_SIZE = 100
SUMMARY_LIMIT = 6_000  # characters of the report's summary section
_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
_NODE_FRAME = re.compile(r"^\s+at (?:(?P<func>.+?) \()?(?P<path>[^()\s]+?):(?P<line>\d+):\d+\)?\s*$")


def page(
    items: Sequence[Any],
    cursor: str | None,
    *,
    budget: int = LIST_BUDGET,
    view: Callable[[Any], Any] = lambda item: item,
) -> tuple[list[Any], str | None]:
    """Items from `cursor` (an offset, as text) while they fit `budget` bytes of JSON (at least one), and the
    cursor of the rest, if any; `view` makes what is shown of an item, only for the items of the page."""
    start = int(cursor) if cursor and cursor.isdigit() else 0
    shown: list[Any] = []
    used = 0
    for item in items[start : start + PAGE_SIZE]:
        shown_item = view(item)
        cost = size(shown_item)
        if shown and used + cost > budget:
            break
        shown.append(shown_item)
        used += cost
    end = start + len(shown)
    return shown, (str(end) if end < len(items) else None)


def size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False))


def last_lines(lines: Sequence[str], wanted: int, *, budget: int = LIST_BUDGET) -> list[str]:
    """The last `wanted` lines, fewer when they would pass `budget`: the end is where the error is."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines[-wanted:] if wanted > 0 else []):
        used += size(line)
        if used > budget:
            break
        kept.append(line)
    return kept[::-1]


def deployment(record: Record) -> dict[str, Any]:
    """What is running: the image digest, the revision or container, the URL; with several services, each one's
    (in deploy order) under `services`."""
    if record.services is None:
        return _deployed(sections_of(record, None))
    parts = record.services
    return {"services": [{"name": name, **_deployed(parts[name])} for name in service_order(record)]}


def _deployed(part: ServiceRecord) -> dict[str, Any]:
    deploy, push, build = part.deploy or DeploySection(), part.push or PushSection(), part.build or BuildSection()
    return {
        "target": deploy.target,
        "service": deploy.service,
        "revision": deploy.revision,
        "container": deploy.container_id or deploy.container,
        "url": deploy.url,
        "digest": image_digest(push, build, deploy) or None,  # an image not built here: the one the engine ran
        "image": push.reference or build.image or deploy.image,
    }


def check_view(check: CheckRecord, *, full: bool = False, base: Path | None = None) -> dict[str, Any]:
    """One check: verdict, how far it got, the server's exception with its repo file:line, and the hint."""
    outcome = check.outcome
    events = check_events(check)
    error = check.server_error
    view: dict[str, Any] = {
        "name": check.name,
        "service": check.service,
        "priority": check.priority,
        "passed": check.passed,
        "category": outcome.category,
        "close_code": outcome.code,
        "depth": outcome.depth,
        "label": outcome.label,
        "reason": outcome.reason,
        "events_reached": f"{events}/{len(check.events_expected)}" if check.events_expected else None,
        "step_reached": check.steps.where if check.steps is not None else None,
        "server_error": None
        if error is None
        else {"type": error.type, "message": error.message, "location": repo_location(error.location, base)},
        "hint": outcome.hint,
        "not_run": check.error.model_dump() if check.error else None,
    }
    if full:
        view |= {
            "kind": check.kind,
            "url": check.url,
            "events_expected": check.events_expected,
            "events_seen": check.events_seen,
            "events_missing": check.events_missing,
            "latency_ms": check.latency_ms,
            "trace_id": check.trace_id,
            "steps": check.steps.model_dump() if check.steps is not None else None,
        }
    return view


def result_view(
    record: Record,
    previous: Record | None,
    *,
    detail: str = "summary",
    report: str = "",
    base: Path | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """`result`: the verdict, BEFORE → AFTER, the checks, the deployment and the report's summary."""
    checks = record.checks if detail == "checks" else [check for check in record.checks if not check.passed]
    # Only the page's checks are viewed: a view looks for the repo file of the server's error.
    shown, next_cursor = page(checks, cursor, view=lambda check: check_view(check, full=detail == "checks", base=base))
    return {
        "number": record.number,
        "status": record.status,
        "exit_code": int(for_record(record)),
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "commit": record.git.short,
        "phases": [
            {
                "name": phase.name,
                "service": phase.service,
                "status": phase.status,
                "duration_s": phase.duration_s,
                "error": _error(phase.error),
            }
            for phase in record.phases
        ],
        "blocking": before_after(record, previous),
        "checks_passed": sum(check.passed for check in record.checks),
        "checks_total": len(record.checks),
        "checks": shown,
        "next_cursor": next_cursor,
        "deployment": deployment(record),
        "summary_markdown": summary_section(report),
    }


def before_after(record: Record, previous: Record | None) -> dict[str, Any] | None:
    """The blocking outcome now, the same check's outcome in the iteration compared with, and the movement."""
    after = blocking_check(record.checks)
    if after is None:
        return None
    before = next((check for check in previous.checks if check.name == after.name), None) if previous else None
    return {
        "check": after.name,
        "service": after.service,
        "compared_with": previous.number if previous else None,
        "before": before.outcome.label if before else None,
        "after": after.outcome.label,
        "movement": movement(before.outcome, after.outcome, **progress_of(before, after)) if before else None,
    }


def summary_section(report: str) -> str:
    """The report's header and Summary, up to the section after it: what a reader sees first."""
    headings = [match.start() for match in re.finditer(r"^## ", report, flags=re.MULTILINE)]
    end = headings[1] if len(headings) > 1 else len(report)
    text = report[:end].rstrip() + "\n"
    return clip(text, SUMMARY_LIMIT)


def evidence_view(record: Record, check: CheckRecord, *, max_lines: int, base: Path | None) -> dict[str, Any]:
    """`evidence`: the check's server log lines (already redacted and clipped in the record) and the frames."""
    error = check.server_error
    lines = list(error.lines) if error else []
    return {
        "number": record.number,
        "check": check.name,
        "trace_id": check.trace_id,
        "window": {"started_at": check.started_at, "finished_at": check.finished_at},
        "exception": None
        if error is None
        else {"type": error.type, "message": error.message, "location": repo_location(error.location, base)},
        "frames": frames(lines, base),
        "lines": last_lines(lines, max_lines),
        "lines_total": len(lines),
        "note": "" if error else "no server error was found in the check's log window",
    }


def frames(lines: Sequence[str], base: Path | None) -> list[dict[str, Any]]:
    """Stack frames in the excerpt as `{file, line, function, in_repo}`: a file the repo holds as its repo path."""
    found = []
    for text in lines:
        match = _PY_FRAME.match(text) or _NODE_FRAME.match(text)
        if match is not None:
            where = f"{match['path']}:{match['line']}"
            in_repo = repo_location(where, base)
            path = (in_repo or where).rsplit(":", 1)[0]
            function = (match["func"] or "").strip()
            found.append({"file": path, "line": int(match["line"]), "function": function, "in_repo": in_repo != where})
    return found


def repo_location(location: str | None, base: Path | None) -> str | None:
    """`app/agent_service/conversation.py:104` (a path in the container) as the repo file it came from, if found.

    The longest tail of the path that the repo holds, at its root or one folder down (the build context); a tail
    keeps at least two parts when the path has them, so a bare `server.py` does not match some other file.
    """
    if not location or base is None or ":" not in location:
        return location
    path, line = location.rsplit(":", 1)
    parts = [part for part in path.replace("\\", "/").split("/") if part and part not in ("..", ".")]
    for start in range(max(len(parts) - 1, 1)):
        tail = "/".join(parts[start:])
        for candidate in _candidates(base, tail):
            if candidate.is_file():
                return f"{candidate.relative_to(base).as_posix()}:{line}"
    return location


def _candidates(base: Path, tail: str) -> list[Path]:
    direct = base / tail
    nested = [folder / tail for folder in sorted(base.iterdir()) if folder.is_dir() and not folder.name.startswith(".")]
    return [direct, *nested]


def diff_view(older: Record, newer: Record, *, cursor: str | None = None) -> dict[str, Any]:
    """`diff`: check transitions, error evolution, what changed in git, digest and revision changes."""
    before = {check.name: check for check in older.checks}
    transitions = []
    for check in newer.checks:
        old = before.get(check.name)
        transitions.append(
            {
                "check": check.name,
                "service": check.service,
                "transition": _transition(old, check),
                "before": old.outcome.label if old else None,
                "after": check.outcome.label,
                "error_before": _raised(old),
                "error_after": _raised(check),
            }
        )
    changed = {change.name for change in check_changes(newer, older)}
    deployed = deployment(older), deployment(newer)
    shown, next_cursor = page(transitions, cursor, budget=LIST_BUDGET // 2)
    return {
        "a": older.number,
        "b": newer.number,
        "status_a": older.status,
        "status_b": newer.status,
        "checks": shown,
        "next_cursor": next_cursor,
        "changed_checks": sorted(changed),
        "changes": _changes(newer, older),
        "deployment": {"a": deployed[0], "b": deployed[1]},
        "digest_changed": _each(deployed[0], "digest") != _each(deployed[1], "digest"),
        "revision_changed": _each(deployed[0], "revision") != _each(deployed[1], "revision"),
    }


def _each(shown: dict[str, Any], key: str) -> dict[str | None, Any]:
    """`key` of each service's deployment by name (None: the one service of a single-service record)."""
    if "services" not in shown:
        return {None: shown[key]}
    return {part["name"]: part[key] for part in shown["services"]}


def _transition(old: CheckRecord | None, new: CheckRecord) -> str:
    if old is None:
        return "new"
    if not old.passed and new.passed:
        return "fixed"
    if old.passed and not new.passed:
        return "regressed"
    if old.passed:
        return "no_change"
    words = movement(old.outcome, new.outcome, **progress_of(old, new))
    return "progress" if words.endswith("progress") else "regressed" if words.endswith("regression") else "no_change"


def _raised(check: CheckRecord | None) -> str | None:
    error = check.server_error if check else None
    return f"{error.type}: {error.message}" if error else None


def _changes(newer: Record, older: Record) -> dict[str, Any]:
    changes = newer.changes
    if changes is None or changes.since != older.number:
        commits = older.git.commit != newer.git.commit
        return {"since": older.number, "commit_changed": commits, "note": "not compared file by file"}
    shown = changes.model_dump(mode="json")
    # What changed is context, not the answer: its lists are cut to their share, with the totals kept.
    shown["files_total"], shown["commits_total"] = len(shown["files"]), len(shown["commits"])
    shown["files"], _ = page(shown["files"], None, budget=LIST_BUDGET // 4)
    shown["commits"], _ = page(shown["commits"], None, budget=LIST_BUDGET // 8)
    return shown


def _error(error: Any) -> dict[str, Any] | None:
    return None if error is None else {"kind": error.kind, "message": one_line(error.message), "hint": error.hint}
