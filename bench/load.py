"""Load probing: 500 concurrent chat sessions against the sample service on 127.0.0.1, vs one session."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

from load_probe import SECRET, probe_argv, probe_env
from timing import REPO, figure, median, require_venv, say, verdict

sys.path.insert(0, str(REPO))

from loopctl.secrets.jwt import mint_jwt
from tests.integration.agent_service import EVENTS, running_service

CONCURRENCY = 500
ROUNDS = 3
WALL_FACTOR_GOAL = 3.0
MEMORY_GOAL_MB = 200.0


def probe(url: str, token: str, concurrency: int) -> tuple[dict[str, object], float]:
    # A tiny --duration puts even one session through the load path, so both figures are measured alike.
    """One `loopctl probe` run: its JSON document and the child's peak resident memory in MB."""
    argv = probe_argv(url, EVENTS, concurrency=concurrency, duration="0.001")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=probe_env(token),
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = max(before, usage.ru_maxrss) / 1024
    say(f"  loopctl probe --concurrency {concurrency}: {usage.ru_utime + usage.ru_stime - cpu_before:.2f}s of CPU")
    return json.loads(done.stdout), peak_mb


def main() -> None:
    require_venv()
    token = mint_jwt(SECRET, {"sub": "bench"}, ttl=3600)
    singles: list[float] = []
    loads: list[float] = []
    peak = 0.0
    with running_service(secret=SECRET) as service:
        for round_number in range(ROUNDS):
            one, _ = probe(service.ws_url, token, 1)
            many, peak_mb = probe(service.ws_url, token, CONCURRENCY)
            load_one, load_many = one["load"], many["load"]
            assert isinstance(load_one, dict) and isinstance(load_many, dict)
            singles.append(float(load_one["wall_s"]))
            loads.append(float(load_many["wall_s"]))
            peak = max(peak, peak_mb)
            say(
                f"round {round_number + 1}: 1 session {load_one['wall_s']}s, {CONCURRENCY} sessions "
                f"{load_many['wall_s']}s, outcomes {load_many['outcomes']}, peak {peak_mb:.0f} MB"
            )
    factor = median(loads) / median(singles)
    met = factor <= WALL_FACTOR_GOAL and peak <= MEMORY_GOAL_MB
    figure(
        f"load: {CONCURRENCY} concurrent sessions {median(loads):.2f}s vs one session "
        f"{median(singles):.2f}s = {factor:.1f}x, peak memory {peak:.0f} MB (median of {ROUNDS}; goal <= "
        f"{WALL_FACTOR_GOAL:g}x and <= {MEMORY_GOAL_MB:g} MB) {verdict(met)}"
    )


if __name__ == "__main__":
    main()
