"""Load probing: many sessions of one check at a time, counted by outcome, with latency percentiles."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from loopctl.probe.classify import Outcome
from loopctl.probe.spec import Check, ProbeResult

LATENCY_KEYS = ("connect", "first_event", "total")


@dataclass(frozen=True)
class Load:
    """`concurrency` sessions at a time; new ones start until `duration` seconds have passed (0: one round)."""

    concurrency: int
    duration: float = 0.0


@dataclass(frozen=True)
class LoadResult:
    """Every session's result, reduced to counts and percentiles; `result` stands for the whole run."""

    load: Load
    sessions: tuple[ProbeResult, ...]
    wall_s: float

    @property
    def failures(self) -> list[ProbeResult]:
        return [session for session in self.sessions if not session.passed]

    def outcome_counts(self) -> dict[str, int]:
        return dict(Counter(session.outcome.category for session in self.sessions).most_common())

    def percentiles(self) -> dict[str, dict[str, float | None]]:
        table: dict[str, dict[str, float | None]] = {}
        for key in LATENCY_KEYS:
            values = sorted(v for s in self.sessions if (v := getattr(s.latency, key)) is not None)
            table[key] = {name: percentile(values, q) for name, q in (("p50", 50), ("p95", 95), ("p99", 99))}
        return table

    def result(self) -> ProbeResult:
        """One result for the record: the first session's shape, with an outcome that speaks for all of them."""
        first = self.sessions[0]
        # The run's window spans every session, so the server's logs are read for all of them.
        started = min((session.started_at for session in self.sessions if session.started_at), default=None)
        finished = max((session.finished_at for session in self.sessions if session.finished_at), default=None)
        return replace(first, outcome=self._outcome(), started_at=started, finished_at=finished)

    def _outcome(self) -> Outcome:
        failures = self.failures
        total = len(self.sessions)
        if not failures:
            success = self.sessions[0].outcome
            return replace(success, reason=f"{total}/{total} sessions passed at concurrency {self.load.concurrency}")
        common = Counter(session.outcome.category for session in failures).most_common(1)[0][0]
        worst = next(session.outcome for session in failures if session.outcome.category == common)
        label = f"{len(failures)}/{total} sessions failed; most as: {worst.label}"
        return replace(worst, label=label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.load.concurrency,
            "duration_s": self.load.duration,
            "sessions": len(self.sessions),
            "failed": len(self.failures),
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
    sessions: list[ProbeResult] = []

    async def worker() -> None:
        while True:
            sessions.append(await run_check(check))
            if time.monotonic() >= deadline:
                return

    await asyncio.gather(*(worker() for _ in range(load.concurrency)))
    return LoadResult(load, tuple(sessions), time.monotonic() - started)
