"""Peak memory of `loopctl iterate` while a suite prints 500 MB, and the size of the log it keeps.

The suite is `yes | head -c 500000000` plus a passing JUnit file; `loopctl iterate` runs in its own process and
its peak resident memory is read with wait4 (ru_maxrss). Before the output was bounded: 992 MB peak, 71 s and a
500 MB log in the iterations folder.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from timing import LOOPCTL, figure, require_venv, say, verdict

OUTPUT_BYTES = 500_000_000
GOAL_MB = 100.0
LOG_GOAL_BYTES = 1_100_000
CONFIG = f"""\
project: bench-suite-output
suites:
  - name: loud
    command: 'yes 0123456789abcdef | head -c {OUTPUT_BYTES}; cp pass.xml {{junit}}'
    timeout: 600
"""


def main() -> None:
    require_venv()
    with tempfile.TemporaryDirectory(prefix="loopctl-bench-") as folder:
        root = Path(folder)
        (root / "config.yaml").write_text(CONFIG)
        (root / "pass.xml").write_text('<testsuite tests="1"><testcase classname="b" name="one"/></testsuite>')
        began = time.monotonic()
        process = subprocess.Popen(
            [str(LOOPCTL), "iterate", "-c", str(root / "config.yaml"), "--ci"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - began
        log = (root / "iterations" / "0001.suite-loud.log").stat().st_size
    peak_mb = usage.ru_maxrss / 1024
    say(f"  exit {os.waitstatus_to_exitcode(status)}, {wall:.1f}s, peak {peak_mb:.0f} MB, log {log:,} bytes")
    met = verdict(peak_mb <= GOAL_MB and log <= LOG_GOAL_BYTES)
    figure(
        f"suite_output: {OUTPUT_BYTES / 1e6:.0f} MB of suite output → peak {peak_mb:.0f} MB, a {log / 1e6:.2f} MB log"
        f" (goal <= {GOAL_MB:g} MB and <= {LOG_GOAL_BYTES / 1e6:.1f} MB) {met}"
    )


if __name__ == "__main__":
    main()
