"""An unchanged `loopctl iterate` against one after a one-file change, on the docker target: the ratio."""

from __future__ import annotations

from typing import Any

from sandbox import Sandbox, phase_line
from timing import figure, median, require_venv, say, verdict

ROUNDS = 3
GOAL_RATIO = 0.10


def check_skipped(record: dict[str, Any]) -> None:
    """An unchanged tree must take the skip path; otherwise the ratio would measure something else."""
    cached = (record.get("build") or {}).get("cached")
    reused = (record.get("deploy") or {}).get("reused")
    if cached != "remote" or reused is not True:
        say(f"  warning: the unchanged iteration did not skip (build cached={cached}, deploy reused={reused})")


def main() -> None:
    require_venv()
    changed: list[float] = []
    unchanged: list[float] = []
    with Sandbox("nochange") as box:
        config = box.write_config("loop")
        box.touch()
        elapsed, record = box.iterate(config)
        say(f"warm-up (fresh registry, first container; not counted): {elapsed:.2f}s; {phase_line(record, elapsed)}")
        for round_number in range(1, ROUNDS + 1):
            box.touch()
            elapsed, record = box.iterate(config)
            changed.append(elapsed)
            say(f"round {round_number} changed:   {elapsed:.2f}s wall; {phase_line(record, elapsed)}")
            elapsed, record = box.iterate(config)
            unchanged.append(elapsed)
            check_skipped(record)
            say(f"round {round_number} unchanged: {elapsed:.2f}s wall; {phase_line(record, elapsed)}")
    ratio = median(unchanged) / median(changed)
    figure(
        f"no_change: unchanged iterate {median(unchanged):.2f}s vs {median(changed):.2f}s after a one-file change"
        f" = {ratio:.2f}x (median of {ROUNDS}; goal <= {GOAL_RATIO:.2f}x) {verdict(ratio <= GOAL_RATIO)}"
    )


if __name__ == "__main__":
    main()
