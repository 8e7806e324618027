"""A failing iteration on the docker target whose server logged nothing, against a passing one.

Both are unchanged iterations of the same image and container (the skip path: no build, no deploy), differing
only in the probe: the passing config is the repo's; the failing one expects `/health` to answer 201, so the
health check fails at once and the server logs nothing about it. What separates the two is what loopctl does for
a failing check: read the container's log for evidence, and whatever it waits for before it reads. Interleaved
rounds after a warm-up each; medians, min/median/max, ratio.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from sandbox import Sandbox, phase_line
from timing import LOOPCTL, figure, median, require_venv, say, spread, timed, verdict

ROUNDS = 5
GOAL_RATIO = 1.3


def failing_twin(box: Sandbox, config: Path) -> Path:
    """The same config (image, container, iterations folder) with a health check that cannot pass."""
    document = yaml.safe_load(config.read_text())
    for check in document["probe"]["checks"]:
        if check["name"] == "health":
            check["http"]["expect_status"] = 201
    twin = box.root / "failing.yaml"
    twin.write_text(yaml.safe_dump(document, sort_keys=False))
    return twin


def failing_iteration(box: Sandbox, config: Path) -> tuple[float, dict[str, Any]]:
    """`loopctl iterate --json` that must fail its checks (exit 1), nothing else."""
    elapsed, done = timed([LOOPCTL, "iterate", "--config", config, "--ci", "--json"], env=box.env)
    record: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    health = next((check for check in record.get("checks", []) if check.get("name") == "health"), {})
    if done.returncode != 1 or health.get("passed") is not False:
        say(f"the failing iteration exited {done.returncode}:\n{done.stderr[-2000:]}")
        raise SystemExit(1)
    return elapsed, record


def main() -> None:
    require_venv()
    passing: list[float] = []
    failing: list[float] = []
    with Sandbox("failure") as box:
        config = box.write_config("loop")
        twin = failing_twin(box, config)
        box.touch()
        elapsed, record = box.iterate(config)
        say(f"first iteration (builds, pushes, starts the container; not counted): {elapsed:.2f}s")
        for label, run in (("passing", lambda: box.iterate(config)), ("failing", lambda: failing_iteration(box, twin))):
            elapsed, record = run()
            say(f"warm-up {label}: {elapsed:.2f}s; {phase_line(record, elapsed)}")
        for round_number in range(1, ROUNDS + 1):
            elapsed, record = box.iterate(config)
            passing.append(elapsed)
            say(f"round {round_number} passing: {elapsed:.2f}s; {phase_line(record, elapsed)}")
            elapsed, record = failing_iteration(box, twin)
            failing.append(elapsed)
            say(f"round {round_number} failing: {elapsed:.2f}s; {phase_line(record, elapsed)}")
    ratio = median(failing) / median(passing)
    say(f"  min/median/max: failing {spread(failing)}, passing {spread(passing)}")
    met = verdict(ratio <= GOAL_RATIO)
    figure(
        f"failure_speed: failing iteration (server logged nothing) {median(failing):.2f}s vs passing"
        f" {median(passing):.2f}s = {ratio:.2f}x (median of {ROUNDS}; goal <= {GOAL_RATIO:g}x) {met}"
    )


if __name__ == "__main__":
    main()
