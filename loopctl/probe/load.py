"""Load probing: many sessions of one check at a time, counted by outcome, with latency percentiles (fixed memory)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from loopctl.probe.spec import Check, ProbeResult
from loopctl.records.record import OutcomeRecord

LATENCY_KEYS = ("connect", "first_event", "total")


@dataclass(frozen=True)
class Load:
    """`concurrency` sessions at a time; new ones start until `duration` seconds have passed (0: one round)."""

    concurrency: int
    duration: float = 0.0


class LatencyHistogram:
    """Latencies counted in fixed log-spaced buckets: constant memory however many sessions an hour brings.

    Bucket edges grow by 2 % from 1 µs to past an hour, so a percentile read from it is within 2 % of the exact
    nearest-rank value (and never outside the smallest and largest value seen).
    """

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.total = 0
        self.low = math.inf
        self.high = -math.inf

    def add(self, value: float) -> None:
        self.counts[_bucket(value)] += 1
        self.total += 1
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile, reported as the upper edge of its bucket clamped to what was seen."""
        if not self.total:
            return None
        rank = max(1, min(self.total, math.ceil(q / 100 * self.total)))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return round(min(max(_upper_edge(index), self.low), self.high), 3)
        return round(self.high, 3)


_SMALLEST_MS = 0.001
_GROWTH = 1.02
_BUCKETS = 1200  # 0.001 ms * 1.02**1200 is about 2e7 ms: beyond any check's timeout


def _bucket(value: float) -> int:
    if value <= _SMALLEST_MS:
        return 0
    return min(_BUCKETS - 1, math.ceil(math.log(value / _SMALLEST_MS, _GROWTH)))


def _upper_edge(index: int) -> float:
    return float(_SMALLEST_MS * _GROWTH**index)


class SessionTally:
    """What the sessions of a load probe add up to, kept as counts: nothing grows with the number of sessions.

    The first result stands for the run's shape, and the first outcome of each failure category is kept to name
    it; the rest is counters and one latency histogram per measure.
    """

    def __init__(self) -> None:
        self.first: ProbeResult | None = None
        self.started_at: str | None = None  # the earliest session's start and the latest one's end
        self.finished_at: str | None = None
        self.sessions = 0
        self.failed = 0
        self.categories: Counter[str] = Counter()
        self.first_failure: dict[str, OutcomeRecord] = {}
        self.latency = {key: LatencyHistogram() for key in LATENCY_KEYS}

    def add(self, result: ProbeResult) -> None:
        if self.first is None:
            self.first = result
        if result.started_at and (self.started_at is None or result.started_at < self.started_at):
            self.started_at = result.started_at
        if result.finished_at and (self.finished_at is None or result.finished_at > self.finished_at):
            self.finished_at = result.finished_at
        self.sessions += 1
        category = result.outcome.category
        self.categories[category] += 1
        if not result.passed:
            self.failed += 1
            self.first_failure.setdefault(category, result.outcome)
        for key in LATENCY_KEYS:
            value = getattr(result.latency, key)
            if value is not None:
                self.latency[key].add(value)


@dataclass(frozen=True)
class LoadResult:
    """Every session, reduced to counts and percentiles as it ended; `result` stands for the whole run."""

    load: Load
    tally: SessionTally
    wall_s: float

    def outcome_counts(self) -> dict[str, int]:
        return dict(self.tally.categories.most_common())

    def percentiles(self) -> dict[str, dict[str, float | None]]:
        return {
            key: {name: histogram.percentile(q) for name, q in (("p50", 50), ("p95", 95), ("p99", 99))}
            for key, histogram in self.tally.latency.items()
        }

    def result(self) -> ProbeResult:
        """One result for the record: the first session's shape, with an outcome that speaks for all of them."""
        first = self.tally.first
        assert first is not None, "a load run has at least one session"
        # The run's window spans every session, so the server's logs are read for all of them.
        return replace(
            first, outcome=self._outcome(first), started_at=self.tally.started_at, finished_at=self.tally.finished_at
        )

    def _outcome(self, first: ProbeResult) -> OutcomeRecord:
        tally = self.tally
        if not tally.failed:
            reason = f"{tally.sessions}/{tally.sessions} sessions passed at concurrency {self.load.concurrency}"
            return first.outcome.model_copy(update={"reason": reason})
        failing = Counter({category: tally.categories[category] for category in tally.first_failure})
        worst = tally.first_failure[failing.most_common(1)[0][0]]
        label = f"{tally.failed}/{tally.sessions} sessions failed; most as: {worst.label}"
        return worst.model_copy(update={"label": label})

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.load.concurrency,
            "duration_s": self.load.duration,
            "sessions": self.tally.sessions,
            "failed": self.tally.failed,
            "wall_s": round(self.wall_s, 3),
            "outcomes": self.outcome_counts(),
            "latency_ms": self.percentiles(),
        }


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    rank = max(1, min(len(values), math.ceil(q / 100 * len(values))))
    return values[rank - 1]


async def run_load(check: Check, load: Load) -> LoadResult:
    """Run `load.concurrency` workers, each repeating the check until the duration is over (at least once)."""
    from loopctl.probe import run_check

    started = time.monotonic()
    deadline = started + load.duration
    tally = SessionTally()

    async def worker() -> None:
        while True:
            tally.add(await run_check(check))
            if time.monotonic() >= deadline:
                return

    await asyncio.gather(*(worker() for _ in range(load.concurrency)))
    return LoadResult(load, tally, time.monotonic() - started)
