"""A load probe's sessions are counted, not kept: fixed memory, percentiles within the histogram's 2 %."""

from __future__ import annotations

import gc
import random
import tracemalloc
from dataclasses import replace

from loopctl.probe import classify
from loopctl.probe.load import Load, LoadResult, SessionTally, percentile
from loopctl.probe.spec import Latency, ProbeResult
from loopctl.records.record import OutcomeRecord

URL = "ws://127.0.0.1:1/ws"


def session(total_ms: float, outcome: OutcomeRecord | None = None) -> ProbeResult:
    return ProbeResult(URL, "websocket", outcome or classify.success(), latency=Latency(connect=1.5, total=total_ms))


def test_percentiles_stay_within_two_percent_of_the_exact_values() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1.2) for _ in range(20_000)]
    tally = SessionTally()
    for value in values:
        tally.add(session(value))
    table = LoadResult(Load(10), tally, 1.0).percentiles()["total"]
    exact = sorted(values)
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        reference = percentile(exact, q)
        assert reference is not None and table[name] is not None
        assert abs(table[name] - reference) <= 0.02 * reference + 0.001, name
    assert LoadResult(Load(1), tally, 1.0).percentiles()["first_event"] == {"p50": None, "p95": None, "p99": None}


def test_memory_does_not_grow_with_sessions() -> None:
    """Everything the tally holds, however it holds it: tracemalloc counts every block still allocated."""
    tally = SessionTally()
    failure = classify.connect_failure("connection_refused", "refused")
    tracemalloc.start()
    try:
        for value in range(1000):
            tally.add(session(float(value), failure if value % 7 == 0 else None))
        gc.collect()
        held_after_warmup = tracemalloc.get_traced_memory()[0]
        for value in range(100_000):
            tally.add(session(float(value % 5000), failure if value % 7 == 0 else None))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - held_after_warmup
    finally:
        tracemalloc.stop()
    assert tally.sessions == 101_000
    # 100k kept sessions would hold megabytes; a fixed histogram holds the same few kilobytes throughout.
    assert grown < 16_384


def test_failures_are_named_by_the_most_common_category_first_seen() -> None:
    expected = ("a", "b")
    auth = classify.close(1008, "Authentication failed", origin="server", expected=expected)
    crash = classify.close(1011, "boom", origin="server", expected=expected)
    tally = SessionTally()
    for outcome in (crash, auth, auth, classify.success(), auth, crash):
        tally.add(session(5.0, outcome))
    measured = LoadResult(Load(3), tally, 0.5)
    assert measured.outcome_counts() == {"policy_violation": 3, "internal_error": 2, "success": 1}
    result = measured.result()
    assert result.outcome.category == "policy_violation"
    assert result.outcome.label.startswith("5/6 sessions failed; most as: received 1008")
    document = measured.to_dict()
    assert (document["sessions"], document["failed"]) == (6, 5)


def test_the_result_spans_every_session_window() -> None:
    tally = SessionTally()
    windows = [
        ("2026-12-01T05:00:01.000Z", "2026-12-01T05:00:02.000Z"),
        ("2026-12-01T05:00:00.500Z", "2026-12-01T05:00:01.500Z"),
        ("2026-12-01T05:00:01.200Z", "2026-12-01T05:00:03.000Z"),
    ]
    for started, finished in windows:
        tally.add(replace(session(5.0), started_at=started, finished_at=finished))
    result = LoadResult(Load(3), tally, 2.5).result()
    assert (result.started_at, result.finished_at) == ("2026-12-01T05:00:00.500Z", "2026-12-01T05:00:03.000Z")
