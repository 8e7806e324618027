"""One long `loopctl loop`: its own CPU time per iteration late in the run against early on (does it grow?).

A soak loop (`--every 0.1 --until never`) against the sample service on the url target, the repo's two checks (a
fresh JWT minted every iteration). Each time the loop says it is waiting, the process's user + system CPU time is
read from /proc; an iteration's CPU time is the difference between two of those readings (the timer's sleep
costs none). The figure compares the mean over the last WINDOW iterations with the mean over WINDOW iterations
after the first few (the first ones pay the imports).
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import LOOPCTL, REPO, figure, require_venv, say, verdict

sys.path.insert(0, str(REPO))

from tests.integration.agent_service import running_service
from tests.integration.test_iterate import CONFIG

ITERATIONS = 500
EARLY = 5  # the first iterations load modules: the comparison starts after them
WINDOW = 10
GOAL_RATIO = 1.1
SECRET = "long-loop-bench-secret-0042"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main() -> None:
    require_venv()
    readings: list[float] = []
    with tempfile.TemporaryDirectory(prefix="loopctl-bench-long-") as folder, running_service(secret=SECRET) as service:
        (Path(folder) / "config.yaml").write_text(CONFIG.format(port=service.port))
        argv = [str(LOOPCTL), "loop", "--ci", "--until", "never", "--every", "0.1", "--max", str(ITERATIONS)]
        process = subprocess.Popen(
            argv,
            cwd=folder,
            env={**os.environ, "DEMO_JWT_SECRET": SECRET},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        for line in process.stderr:
            if "waiting for" in line:
                readings.append(cpu_seconds(process.pid))
                if len(readings) % 100 == 0:
                    say(f"  {len(readings)} iterations")
        code = process.wait()
    per_iteration = [later - earlier for earlier, later in itertools.pairwise(readings)]
    if code != 0 or len(per_iteration) < EARLY + 2 * WINDOW:
        say(f"the loop exited {code} after {len(readings)} iterations")
        raise SystemExit(1)
    early = statistics.mean(per_iteration[EARLY : EARLY + WINDOW])
    late = statistics.mean(per_iteration[-WINDOW:])
    ratio = late / early
    figure(
        f"long_loop: own CPU per iteration, iterations {len(per_iteration) - WINDOW + 2}-{len(per_iteration) + 1}"
        f" {late * 1000:.0f} ms vs iterations {EARLY + 2}-{EARLY + WINDOW + 1} {early * 1000:.0f} ms = {ratio:.2f}x"
        f" (means of {WINDOW}; goal <= {GOAL_RATIO:g}x) {verdict(ratio <= GOAL_RATIO)}"
    )


if __name__ == "__main__":
    main()
