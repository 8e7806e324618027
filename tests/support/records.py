"""Iteration records for renderer tests, built from dicts with fixed dates and real classifier outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopctl.probe import classify
from loopctl.records.compare import blocking_outcome
from loopctl.records.record import OutcomeRecord, Record
from loopctl.records.sections import DeploySection
from tests.integration.agent_service import EVENTS

CHAT_IMPACT = "Users can chat and see the agent work"
SERVICE_URL = "https://backend-staging-701982941522.us-central1.run.app"
IMAGE = "us-central1-docker.pkg.dev/my-proj/agent/agent-service"


def digest(seed: int) -> str:
    return "sha256:" + f"{seed:02x}" * 32


def sha(seed: int) -> str:
    return (f"{seed:x}" * 40)[:40]


def http_check(
    name: str = "health", *, status: int = 200, expect: int | None = 200, priority: int = 1, total_ms: float = 12.0
) -> dict[str, Any]:
    outcome = classify.http_response(status, "ok", expect_status=expect)
    return {
        "name": name,
        "priority": priority,
        "kind": "http",
        "url": f"{SERVICE_URL}/health",
        "passed": outcome.passed,
        "outcome": outcome.model_dump(),
        "latency_ms": {"connect": None, "first_event": None, "total": total_ms},
    }


def ws_check(
    outcome: OutcomeRecord,
    seen: Sequence[str],
    *,
    name: str = "chat-events",
    priority: int = 1,
    expected: Sequence[str] = EVENTS,
    impact: str | None = CHAT_IMPACT,
) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "kind": "websocket",
        "url": SERVICE_URL.replace("https", "wss") + "/ws",
        "impact": impact,
        "passed": outcome.passed,
        "outcome": outcome.model_dump(),
        "events_expected": list(expected),
        "events_seen": list(seen),
        "events_missing": classify.missing_events(expected, seen),
        "latency_ms": {"connect": 85.0, "first_event": 140.0 if seen else None, "total": 230.0},
    }


def closed(code: int, reason: str, seen: Sequence[str] = (), **fields: Any) -> dict[str, Any]:
    """A websocket check the server closed with `code` after sending `seen`."""
    outcome = classify.close(code, reason, origin="server", expected=EVENTS, seen=seen)
    return ws_check(outcome, seen, **fields)


def all_events(**fields: Any) -> dict[str, Any]:
    return ws_check(classify.events(EVENTS, EVENTS) or classify.success(), EVENTS, **fields)


def phases(probe_ok: bool = True, **overrides: dict[str, Any]) -> list[dict[str, Any]]:
    durations = {"build": 41.2, "push": 8.7, "deploy": 63.5, "probe": 1.4}
    rows: list[dict[str, Any]] = [
        {"name": name, "status": "ok" if name != "probe" or probe_ok else "failed", "duration_s": seconds}
        for name, seconds in durations.items()
    ]
    return [{**row, **overrides.get(row["name"], {})} for row in rows]


def make_record(
    number: int,
    status: str,
    *,
    checks: Sequence[dict[str, Any]] = (),
    suites: Sequence[dict[str, Any]] = (),
    phase_rows: Sequence[dict[str, Any]] | None = None,
    started_at: str | None = None,
    dirty: bool = False,
    **fields: Any,
) -> Record:
    """A record of iteration `number`, deployed to Cloud Run, with fixed dates a day apart per number."""
    started = started_at or f"2025-09-{6 + number:02d}T18:20:05Z"
    rows = phase_rows if phase_rows is not None else phases(all(check["passed"] for check in checks))
    raw: dict[str, Any] = {
        "schema": 1,
        "number": number,
        "project": "agent-service",
        "started_at": started,
        "finished_at": started.replace("18:20:05", "18:22:31"),
        "status": status,
        "previous": number - 1 if number > 1 else None,
        "git": {"branch": "fix-ws-auth", "commit": sha(number), "dirty": dirty},
        "phases": list(rows),
        "build": {"image": IMAGE, "image_id": digest(0xA0 + number), "input_digest": digest(number), "cached": "no"},
        "push": {"reference": f"{IMAGE}:it-{number:04d}", "digest": digest(0xB0 + number)},
        "deploy": {
            "target": "cloudrun",
            "service": "backend-staging",
            "revision": f"backend-staging-{152 + number:05d}-v9v",
            "url": SERVICE_URL,
        },
        "checks": list(checks),
        "suites": list(suites),
    }
    record = Record.model_validate({**raw, **fields})
    if "outcome" in fields:
        return record
    # As the runner does: the record carries its most blocking outcome.
    return record.model_copy(update={"outcome": blocking_outcome(record.checks)})


def story() -> list[Record]:
    """The DESIGN story: 1008 auth failure, then 1011 after agent_started, then every event."""
    return [
        make_record(1, "failed", checks=[http_check(), closed(1008, "Authentication failed")], dirty=True),
        make_record(2, "progress", checks=[http_check(), closed(1011, "Internal error", ["agent_started"])]),
        make_record(3, "success", checks=[http_check(), all_events()]),
    ]


def hostile_record(text: str) -> Record:
    """A record whose every outside string is `text`, as a tampered file could hold it (nothing cleaned on the way)."""
    outcome = {"code": 1011, "category": text, "depth": 3, "label": text, "reason": text, "hint": text, "origin": text}
    check = ws_check(classify.close(1011, "x", origin="server", expected=EVENTS), [text], name=text, impact=text)
    check |= {"outcome": outcome, "events_expected": [text, "done"], "events_missing": ["done"], "url": text}
    not_run = {
        **http_check(name=f"{text} 2"),
        "passed": False,
        "outcome": outcome | {"category": "not_run", "depth": 0},
        "error": {"kind": text, "message": text, "hint": text},
    }
    suite = {"name": text, "failed": 1, "failures": [{"test": text, "message": f"{text}\n{text}"}]}
    suite |= {"error": {"kind": text, "message": text, "hint": text}}
    deploy_error = {"status": "failed", "error": {"kind": text, "message": f"{text}\n{text}\n{text}", "hint": text}}
    record = make_record(
        2, "failed", checks=[check, not_run], suites=[suite], phase_rows=phases(deploy=deploy_error), project=text
    )
    return record.model_copy(update={"deploy": DeploySection(url=text, revision=text)})
