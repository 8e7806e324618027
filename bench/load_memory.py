"""Memory of an hour of load probing at full rate: peak resident memory plus what each session leaves behind.

Against the sample service (a subprocess on 127.0.0.1), concurrency 50:
- `loopctl probe --duration LONG_S` in its own process: its peak resident memory (wait4's ru_maxrss) and rate;
- in this process, under tracemalloc, `run_load` for SHORT_S and for LONG_S: the Python heap the finished run
  still holds, per extra session (RSS differences of a megabyte are allocator noise; the traced heap is exact).
An hour = peak + per-session growth x sessions an hour brings at the measured rate. A probe that kept every
session's result grew about 1.9 KB per session (4.4 GB for an hour at 650 sessions/s).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tracemalloc

from load_probe import MESSAGE, SECRET, TOKEN_ENV, probe_argv, probe_env
from timing import REPO, figure, require_venv, say, verdict

sys.path.insert(0, str(REPO))

from loopctl.probe.load import Load, run_load
from loopctl.probe.options import check_from_options
from loopctl.secrets.jwt import mint_jwt
from tests.integration.agent_service import EVENTS, running_service

CONCURRENCY = 50
SHORT_S = 3.0
LONG_S = 12.0
HOUR_S = 3600.0
GOAL_MB = 100.0


def probe(url: str, token: str, duration: float) -> tuple[dict[str, object], float]:
    """One `loopctl probe` load run in its own process: its load summary and that process's peak RSS in MB."""
    argv = probe_argv(url, EVENTS, concurrency=CONCURRENCY, duration=duration)
    # RUSAGE_CHILDREN's ru_maxrss is the largest over every child so far: read this child's own with wait4.
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=probe_env(token))
    assert process.stdout is not None
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return json.loads(stdout)["load"], usage.ru_maxrss / 1024


def held_per_session(url: str, token: str) -> float:
    """Bytes of Python heap a finished load run holds per extra session (tracemalloc, after a collection)."""
    os.environ[TOKEN_ENV] = token
    check = check_from_options(
        url,
        send=MESSAGE,
        expect_events=list(EVENTS),
        event_field="type",
        timeout=60,
        hold=1.0,
        expect_status=None,
        headers=[],
        token_env=TOKEN_ENV,
        token_file=None,
        token_command=None,
        auth="bearer",
        ca_bundle=None,
    )
    asyncio.run(run_load(check, Load(CONCURRENCY, 1.0)))  # warm-up: what a first run imports is not per session
    tracemalloc.start()
    held: list[tuple[int, int]] = []
    for duration in (SHORT_S, LONG_S):
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        measured = asyncio.run(run_load(check, Load(CONCURRENCY, duration)))
        gc.collect()
        held.append((measured.to_dict()["sessions"], tracemalloc.get_traced_memory()[0] - before))
        say(f"  in-process {duration:g}s: {held[-1][0]:,} sessions, the finished run holds {held[-1][1]:,} bytes")
        del measured
    tracemalloc.stop()
    (short_sessions, short_bytes), (long_sessions, long_bytes) = held
    return max(0.0, (long_bytes - short_bytes) / max(1, long_sessions - short_sessions))


def main() -> None:
    require_venv()
    token = mint_jwt(SECRET, {"sub": "bench"}, ttl=3600)
    with running_service(secret=SECRET) as service:
        long, peak_mb = probe(service.ws_url, token, LONG_S)
        per_session = held_per_session(service.ws_url, token)
    rate = int(str(long["sessions"])) / float(str(long["wall_s"]))
    say(f"  loopctl probe {LONG_S:g}s: {long['sessions']:,} sessions, {long['outcomes']}, peak {peak_mb:.1f} MB")
    hour_mb = peak_mb + per_session * rate * HOUR_S / 1048576
    met = verdict(hour_mb <= GOAL_MB)
    figure(
        f"load_memory: an hour at {rate:.0f} sessions/s would need {hour_mb:.0f} MB (peak {peak_mb:.0f} MB after"
        f" {LONG_S:g}s, {per_session:.0f} bytes held per extra session; goal <= {GOAL_MB:g} MB) {met}"
    )


if __name__ == "__main__":
    main()
