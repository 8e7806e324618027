"""`loopctl history` over 100,000 realistic iteration records: `--last 20` warm and right after a new record.

Also `--last 10000 --json`. The first `--last 20` after a new record is taken over 10,000 and 100,000 records in
the same run: the cache makes one row and appends it, so the two should cost the same (flat in N).
"""

from __future__ import annotations

import json
import pstats
import random
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from timing import LOOPCTL, PYTHON, checked, figure, median, require_venv, say, spread, timed, verdict

from loopctl.probe import classify
from loopctl.records.compare import blocking_outcome, iteration_status
from loopctl.records.history_cache import CACHE_NAME
from loopctl.records.record import OutcomeRecord, Record

RECORDS = 100_000
SMALL = 10_000  # the other size for "flat in N"
FLAT_RATIO = 1.5  # 100k vs 10k after a new record: flat, with room for a shared machine's noise
# Distinct records made through loopctl's own model and comparison; the rest repeat them under new numbers.
DISTINCT = 1_000
EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
RUNS = 5
GOAL_S = 0.3  # `history --last 20`, warm: the figure the goal is about
SEED = 20_250_907
IMAGE = "127.0.0.1:5000/agent-service"
URL = "http://127.0.0.1:18080"
# How often each way an iteration ends comes up in a long-lived loop (weights).
SCENARIOS = {
    "success": 40,
    "auth": 14,
    "internal": 14,
    "drop": 7,
    "partial": 10,
    "refused": 5,
    "build_failed": 7,
    "deploy_failed": 3,
}
LAST_JSON = 10_000
COMMANDS: dict[str, list[str | Path]] = {
    "history --last 20": [LOOPCTL, "history", "--last", "20"],
    "history --last 10000 --json": [LOOPCTL, "history", "--last", str(LAST_JSON), "--json"],
}
GOAL_LABEL = "history --last 20"
REPORT_PLACEHOLDER = "# agent-service — iteration {number}\n\n" + "A report of the usual size. " * 150 + "\n"


def digest(rng: random.Random) -> str:
    return "sha256:" + rng.randbytes(32).hex()


def chat_outcome(scenario: str) -> tuple[OutcomeRecord, tuple[str, ...]]:
    """The websocket check's outcome and the events it saw, as the classifier makes them."""
    if scenario == "auth":
        return classify.close(1008, "Authentication failed", origin="server", expected=EVENTS), ()
    seen: tuple[str, ...]
    if scenario == "internal":
        seen = EVENTS[:1]
        return classify.close(1011, "Internal error", origin="server", expected=EVENTS, seen=seen), seen
    if scenario == "drop":
        seen = EVENTS[:2]
        return classify.close(1006, "", origin=None, expected=EVENTS, seen=seen), seen
    if scenario == "partial":
        seen = EVENTS[:3]
        return classify.silence(30, expected=EVENTS, seen=seen), seen
    if scenario == "refused":
        refused = "[Errno 111] Connect call failed ('127.0.0.1', 18080)"
        return classify.connect_failure("connection_refused", refused), ()
    return classify.events(EVENTS, EVENTS) or classify.success(), EVENTS


def checks(scenario: str, rng: random.Random) -> list[dict[str, Any]]:
    """The repo config's two checks (health, chat-events) as a docker-target iteration records them."""
    outcome, seen = chat_outcome(scenario)
    health = outcome if scenario == "refused" else classify.http_response(200, "ok", expect_status=200)
    latency = {"connect": round(rng.uniform(2, 9), 1), "first_event": 0.5 if seen else None}
    return [
        {
            "name": "health",
            "priority": 1,
            "kind": "http",
            "url": f"{URL}/health",
            "impact": None,
            "passed": health.passed,
            "outcome": health.model_dump(),
            "latency_ms": {"connect": None, "first_event": None, "total": round(rng.uniform(5, 60), 1)},
        },
        {
            "name": "chat-events",
            "priority": 1,
            "kind": "websocket",
            "url": URL.replace("http", "ws") + "/ws",
            "impact": "Users can chat and see the agent work",
            "passed": outcome.passed,
            "outcome": outcome.model_dump(),
            "events_expected": list(EVENTS),
            "events_seen": list(seen),
            "events_missing": classify.missing_events(EVENTS, seen),
            "latency_ms": {**latency, "total": round(rng.uniform(60, 140), 1)},
            "frames_ignored": 0,
        },
    ]


def phases(scenario: str, rng: random.Random) -> list[dict[str, Any]]:
    """build → push → deploy → probe; a failed gating phase leaves the later ones skipped, as the runner does."""
    failed_at = {"build_failed": "build", "deploy_failed": "deploy"}.get(scenario)
    errors = {
        "build": ("build", "Step 4/8 : COPY agent_service /app/agent_service: COPY failed: no source files"),
        "deploy": ("container_exited", "loopctl-demo-agent-service exited with code 1 before it listened"),
    }
    rows: list[dict[str, Any]] = []
    for name, seconds in (("build", 0.6), ("push", 0.15), ("deploy", 0.8), ("probe", 0.14)):
        if failed_at and rows and rows[-1]["status"] in ("failed", "skipped"):
            rows.append({"name": name, "status": "skipped", "detail": {"reason": f"after {failed_at} failed"}})
            continue
        row: dict[str, Any] = {"name": name, "status": "ok", "duration_s": round(seconds * rng.uniform(0.7, 3), 3)}
        if name == failed_at:
            kind, message = errors[name]
            row |= {"status": "failed", "error": {"kind": kind, "message": message, "hint": "read the log"}}
        rows.append(row)
    return rows


def raw_record(number: int, scenario: str, started: datetime, rng: random.Random) -> dict[str, Any]:
    """One record shaped like a real docker-target iteration of the repo's config.yaml."""
    probed = scenario not in ("build_failed", "deploy_failed")
    built = scenario != "build_failed"
    input_digest, pushed, container = digest(rng), digest(rng), rng.randbytes(32).hex()
    commit = rng.randbytes(20).hex()
    cache_tag = f"{IMAGE}:in-{input_digest[7:39]}"
    build = {
        "image": IMAGE,
        "input_digest": input_digest,
        "cache_tag": cache_tag,
        "reference": cache_tag,
        "cached": rng.choice(["no", "no", "remote"]),
        "image_id": digest(rng),
        "tags": [commit[:12], f"loopctl-{number:04d}"],
    }
    deploy = {
        "target": "docker",
        "service": "loopctl-demo-agent-service",
        "revision": container[:12],
        "container_id": container,
        "image": f"{IMAGE}@{pushed}",
        "url": URL,
        "reused": False,
        "env": ["JWT_SECRET", "PORT"],
    }
    return {
        "schema": 1,
        "number": number,
        "project": "agent-service",
        "started_at": iso(started),
        "finished_at": iso(started + timedelta(seconds=rng.uniform(1.5, 9))),
        "status": "failed",
        "git": {"branch": "main", "commit": commit, "dirty": rng.random() < 0.4},
        "phases": phases(scenario, rng),
        "build": build if built else None,
        "push": {"digest": pushed, "pinned": f"{IMAGE}@{pushed}", "retries": 0, "uploaded": True} if built else None,
        "deploy": deploy if probed else None,
        "checks": checks(scenario, rng) if probed else [],
        "suites": [],
    }


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_history(folder: Path, records: int = RECORDS) -> None:
    """`records` records with their reports, as Store.save writes them, the counter at the last.

    The first DISTINCT are built with loopctl's Record and statuses from its own comparison; later numbers
    repeat them (text with the number swapped), which keeps writing 100,000 files to about half a minute.
    """
    rng = random.Random(SEED)
    folder.mkdir(parents=True)
    started = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    previous: Record | None = None
    names, weights = list(SCENARIOS), list(SCENARIOS.values())
    templates: list[str] = []
    for number in range(1, min(DISTINCT, records) + 1):
        started += timedelta(minutes=rng.randint(2, 40))
        record = Record.model_validate(raw_record(number, rng.choices(names, weights)[0], started, rng))
        record = record.model_copy(update={"outcome": blocking_outcome(record.checks)})
        status = iteration_status(record, previous)
        record = record.model_copy(update={"status": status, "previous": previous.number if previous else None})
        previous = record if record.probed else previous
        raw = {**record.to_json_dict(), "number": -1}
        templates.append(json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    for number in range(1, records + 1):
        document = templates[(number - 1) % len(templates)].replace('"number": -1,', f'"number": {number},', 1)
        (folder / f"{number:04d}.json").write_text(document, encoding="utf-8")
        (folder / f"{number:04d}.md").write_text(REPORT_PLACEHOLDER.format(number=number), encoding="utf-8")
    (folder / ".last").write_text(f"{records}\n")


def measure(workdir: Path) -> dict[str, list[float]]:
    """RUNS times per command, interleaved, after one warm-up each (which also fills the history cache)."""
    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    for run in range(RUNS + 1):
        for label, argv in COMMANDS.items():
            elapsed, done = checked(argv, cwd=workdir)
            if run == 0:
                check_output(label, done.stdout)
                say(f"  warm-up (fills the history cache): {label} {elapsed:.2f}s")
                continue
            times[label].append(elapsed)
            say(f"  run {run}: {label} {elapsed:.2f}s")
    return times


def cold(workdir: Path) -> float:
    """`history --last 10000 --json` with no history cache: every one of those records parsed."""
    samples = []
    for _ in range(3):
        (workdir / "iterations" / CACHE_NAME).unlink(missing_ok=True)
        elapsed, _ = checked(COMMANDS["history --last 10000 --json"], cwd=workdir)
        samples.append(elapsed)
    return median(samples)


def add_record(folder: Path) -> None:
    """One more record, as an iteration saves it: the newest's text under the next number, the counter moved."""
    top = int((folder / ".last").read_text())
    text = (folder / f"{top:04d}.json").read_text(encoding="utf-8")
    newer = text.replace(f'"number": {top},', f'"number": {top + 1},', 1)
    (folder / f"{top + 1:04d}.json").write_text(newer, encoding="utf-8")
    (folder / ".last").write_text(f"{top + 1}\n")


def new_record_figures(big: Path) -> dict[int, list[float]]:
    """The first `--last 20` after a new record over SMALL and RECORDS records, interleaved, one folder each."""
    small = Path(tempfile.mkdtemp(prefix="loopctl-bench-history-small-"))
    try:
        write_history(small / "iterations", SMALL)
        for workdir in (small, big):
            checked(COMMANDS[GOAL_LABEL], cwd=workdir)  # warm: the cache holds the newest rows
        samples: dict[int, list[float]] = {SMALL: [], RECORDS: []}
        for _ in range(RUNS):
            for size, workdir in ((SMALL, small), (RECORDS, big)):
                add_record(workdir / "iterations")
                elapsed, _ = checked(COMMANDS[GOAL_LABEL], cwd=workdir)
                samples[size].append(elapsed)
        return samples
    finally:
        shutil.rmtree(small, ignore_errors=True)


def check_output(label: str, stdout: str) -> None:
    """The JSON run must list every record asked for: a fast answer that skipped records would prove nothing."""
    if "--json" not in label:
        return
    rows = json.loads(stdout)["iterations"]
    say(f"  {label}: {len(rows)} rows, statuses {', '.join(sorted({row['status'] for row in rows}))}")
    numbers = [row["number"] for row in rows]
    if numbers != list(range(RECORDS - LAST_JSON + 1, RECORDS + 1)):
        say(f"  expected rows {RECORDS - LAST_JSON + 1}..{RECORDS}")
        raise SystemExit(1)


def profile(workdir: Path, label: str) -> None:
    """Where a slow command spends its time: cProfile's top functions, by cumulative and by own time."""
    output = workdir / "profile.out"
    _, done = timed([PYTHON, "-m", "cProfile", "-o", output, *COMMANDS[label]], cwd=workdir)
    if done.returncode != 0 or not output.exists():
        say(f"  could not profile {label}")
        return
    entries = pstats.Stats(str(output)).stats  # type: ignore[attr-defined]
    rows = [(cumulative, own, calls, where) for where, (_, calls, own, cumulative, _) in entries.items()]
    say(f"profile of {label} (cProfile, seconds; profiling slows it down):")
    ours = [row for row in rows if "/loopctl/" in row[3][0]]
    by_cumulative = sorted(ours, key=lambda row: row[0], reverse=True)
    by_own = sorted(rows, key=lambda row: row[1], reverse=True)
    for title, chosen in (("cumulative, loopctl's functions", by_cumulative), ("own time, all functions", by_own)):
        say(f"  top by {title}:")
        for cumulative, own, calls, (path, line, function) in chosen[:12]:
            say(f"    {cumulative:7.3f} cum {own:7.3f} own {calls:>8} calls  {short(path)}:{line}({function})")


def short(path: str) -> str:
    parts = Path(path).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else path


def main() -> None:
    require_venv()
    workdir = Path(tempfile.mkdtemp(prefix="loopctl-bench-history-"))
    try:
        say(f"history: writing {RECORDS:,} records and reports to {workdir / 'iterations'}")
        write_history(workdir / "iterations")
        medians = {label: median(samples) for label, samples in measure(workdir).items()}
        fresh = new_record_figures(workdir)
        for size, samples in fresh.items():
            say(f"  first history --last 20 after a new record, {size:,} records (min/median/max): {spread(samples)}")
        without_cache = cold(workdir)
        say(f"  history --last 10000 --json with no cache (median of 3): {without_cache:.2f}s")
        if medians[GOAL_LABEL] > GOAL_S:
            profile(workdir, GOAL_LABEL)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    parts = ", ".join(f"{label} {seconds:.2f}s" for label, seconds in medians.items())
    flat = median(fresh[RECORDS]) / median(fresh[SMALL])
    met = medians[GOAL_LABEL] <= GOAL_S and median(fresh[RECORDS]) <= GOAL_S and flat <= FLAT_RATIO
    figure(
        f"history: {parts} (warm), --last 10000 --json {without_cache:.2f}s with no cache, over {RECORDS:,} records;"
        f" first --last 20 after a new record {spread(fresh[RECORDS])} at {RECORDS:,} vs {spread(fresh[SMALL])}"
        f" at {SMALL:,} = {flat:.2f}x (min/median/max of {RUNS}; goal: <= {GOAL_S:g} s, flat in N) {verdict(met)}"
    )


if __name__ == "__main__":
    main()
