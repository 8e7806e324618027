"""Cloud Logging calls one evidence read spends (in-process, against the Logging emulator): the project's
`entries.list` quota is 60 requests a minute, shared with everyone reading the project."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from timing import figure, require_venv, say, verdict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the emulator the tests use

from loopctl.evidence.cloud_logging import MAX_CALLS, CloudRunLogs
from loopctl.evidence.extract import extract
from loopctl.evidence.window import LogsUnavailable, Window
from tests.support.logging_emulator import LoggingEmulator, run_entry

PROJECT, SERVICE, REVISION = "bench", "svc", "svc-00001-abc"
WAIT_S = 10.0
GOAL_CALLS = 15  # a quarter of the project's minute, whatever the service logged


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def one_read(name: str, prepare: object) -> tuple[int, int, float]:
    """(calls, entries served, seconds) of one read that finds no error, the worst case for the quota."""
    with LoggingEmulator() as emulator:
        now = datetime.now(UTC)
        window = Window(now - timedelta(seconds=40), now + timedelta(seconds=60))
        prepare(emulator, now)  # type: ignore[operator]
        logs = CloudRunLogs(
            project=PROJECT, service=SERVICE, revision=REVISION, api_endpoint=emulator.endpoint, wait_s=WAIT_S
        )
        started = time.monotonic()
        try:
            logs.read(window, enough=lambda lines: extract(lines) is not None)
        except LogsUnavailable as err:
            say(f"{name}: {err.message}")
        took = time.monotonic() - started
        calls, served = len(emulator.requests), sum(emulator.served)
    say(f"{name}: {calls} entries.list calls, {served} entries served, {took:.1f}s")
    return calls, served, took


def nothing(emulator: LoggingEmulator, now: datetime) -> None:
    pass


def busy(emulator: LoggingEmulator, now: datetime) -> None:
    emulator.add(
        *(
            run_entry(PROJECT, SERVICE, REVISION, stamp(now - timedelta(seconds=35, milliseconds=-20 * n)), f"INFO {n}")
            for n in range(1500)
        )
    )


def endless(emulator: LoggingEmulator, now: datetime) -> None:
    emulator.empty_pages = 100_000


def throttled(emulator: LoggingEmulator, now: datetime) -> None:
    emulator.fail_next(429, 100_000)


def main() -> None:
    require_venv()
    results = {
        name: one_read(name, prepare)
        for name, prepare in (
            ("nothing ingested", nothing),
            ("1,500 entries, no error", busy),
            ("endless empty pages", endless),
            ("429 every time", throttled),
        )
    }
    worst = max(calls for calls, _, _ in results.values())
    met = worst <= GOAL_CALLS and MAX_CALLS <= GOAL_CALLS
    figure(f"cloud logging: at most {worst} entries.list calls per read (goal <= {GOAL_CALLS}) {verdict(met)}")


if __name__ == "__main__":
    main()
