"""Redaction at iteration ~500 of one process vs ~5 (480-500 vs 1-21), in-process: CPU time of that work alone.

An iteration, as redaction sees it: inside `iteration_scope()` it mints the config's tokens (two JWTs, each with
claims of its own, as iterations seconds apart get) and reads the configured secrets, then redacts what it
writes: a record's strings and 200 log lines through `outside.one_line`. The same work runs with the scope (what
`loop` does now) and without it (the registry growing, as it did before), both with today's matcher. Then one
`redact` of a log line with 8,000 and 80,000 values known, the figures the issue quoted for the old matcher.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable

from timing import REPO, figure, median, require_venv, say, verdict

sys.path.insert(0, str(REPO))

from loopctl.outside_text import one_line
from loopctl.secrets import redact_tree
from loopctl.secrets.redaction import REGISTRY, iteration_scope, redact, remember
from loopctl.secrets.references import EnvRef, JwtRef

ITERATIONS = 500
SAMPLES = 21
GOAL = 1.1
SECRET_ENV = "BENCH_REDACT_SECRET"
LOG_LINE = (
    "2026-12-06 13:04:18 INFO app.ws: user 42 connected from 10.0.0.7 (session abc123) and sent "
    '{"type": "user_message", "payload": {"content": "hello"}} in 12 ms'
)


def record_strings(number: int) -> dict[str, object]:
    """A record's worth of strings: checks with reasons, events, a server error's lines."""
    check = {
        "name": "chat-events",
        "outcome": {"label": "received 1011 (internal error)", "reason": "Internal error", "hint": "see the log"},
        "events_seen": ["agent_started", "agent_thinking", "tool_executing"],
        "server_error": {"type": "TypeError", "message": "user_context must be set", "lines": [LOG_LINE] * 8},
    }
    return {"number": number, "status": "progress", "checks": [check] * 10, "commits": ["fix the auth"] * 20}


def one_iteration(number: int) -> Callable[[], None]:
    """Mint and read this iteration's secrets; return the redaction work it then does."""
    for check in ("chat", "steps"):
        JwtRef.model_validate({"jwt": {"secret": {"env": SECRET_ENV}, "claims": {"sub": check, "n": number}}}).resolve()
    EnvRef(env=SECRET_ENV).resolve()
    record = record_strings(number)

    def work() -> None:
        redact_tree(record)
        for _ in range(200):
            one_line(LOG_LINE)

    return work


def cpu_time(work: Callable[[], None]) -> float:
    began = time.process_time()
    work()
    return time.process_time() - began


def run(*, scoped: bool) -> dict[str, list[float]]:
    """Iterations 1..500 in one process: the redaction work of iterations 1-21 and 480-500 (each its first pass,
    so rebuilding the matcher after the iteration's tokens is counted), and how many forms were known."""
    measured: dict[str, list[float]] = {"early": [], "late": [], "known": []}
    for number in range(1, ITERATIONS + 1):
        with iteration_scope() if scoped else contextlib.nullcontext():
            work = one_iteration(number)
            window = "early" if number <= SAMPLES else "late" if number > ITERATIONS - SAMPLES else None
            if window:
                measured[window].append(cpu_time(work))
            if number in (SAMPLES, ITERATIONS):
                measured["known"].append(float(len(REGISTRY)))
    return measured


def spread(samples: list[float]) -> str:
    return f"{min(samples) * 1000:.1f}/{median(samples) * 1000:.1f}/{max(samples) * 1000:.1f} ms"


def per_redact_with(count: int) -> str:
    """One `redact` of a log line with `count` values known (the automaton built once, before timing)."""
    with iteration_scope():
        for index in range(count):
            remember(f"bench-known-value-{index:06d}-abcdefghijklmnop")
        began = time.perf_counter()
        redact(LOG_LINE)
        build = time.perf_counter() - began
        samples = []
        for _ in range(200):
            began = time.perf_counter()
            redact(LOG_LINE)
            samples.append(time.perf_counter() - began)
    return f"{count} values: {median(samples) * 1e6:.0f} µs per redact (automaton built in {build * 1000:.0f} ms)"


def main() -> None:
    require_venv()
    os.environ[SECRET_ENV] = "bench-redact-secret-value"
    results = {}
    for scoped in (True, False):  # paired: the same iterations, with and without the scope, in one process
        results[scoped] = run(scoped=scoped)
        name = "scoped" if scoped else "unscoped (the registry grows, as before)"
        early, late, known = results[scoped]["early"], results[scoped]["late"], results[scoped]["known"]
        say(
            f"{name}: iterations 1-{SAMPLES} {spread(early)} ({known[0]:.0f} forms known), "
            f"iterations {ITERATIONS - SAMPLES + 1}-{ITERATIONS} {spread(late)} ({known[1]:.0f} forms known), "
            f"{median(late) / median(early):.2f}×"
        )
    for count in (8_000, 80_000):
        say(per_redact_with(count))
    ratio = median(results[True]["late"]) / median(results[True]["early"])
    figure(
        f"redaction work at iteration {ITERATIONS} vs 5 of one process: {ratio:.2f}× "
        f"(goal ≤ {GOAL}×) {verdict(ratio <= GOAL)}"
    )


if __name__ == "__main__":
    main()
