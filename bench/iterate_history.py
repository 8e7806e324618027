"""An unchanged `loopctl iterate` in an iterations folder of 100,000 records against one in a folder of one.

Both configs are the same docker-target loop (same image repository, same container), differing only in
`iterations_dir`; both iterations take the skip path. The big folder is written as `history.py` writes it
(realistic records and reports, `.last` at 100,000). Interleaved runs after a warm-up each; medians; ratio.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from history import write_history
from sandbox import Sandbox, phase_line
from timing import figure, median, require_venv, say, verdict

RECORDS = 100_000
ROUNDS = 5
GOAL_RATIO = 1.1


def twin_config(box: Sandbox, config: Path, folder: str) -> Path:
    """The same config with another iterations folder."""
    document = yaml.safe_load(config.read_text())
    document["iterations_dir"] = folder
    twin = box.root / f"{folder}.yaml"
    twin.write_text(yaml.safe_dump(document, sort_keys=False))
    return twin


def main() -> None:
    require_venv()
    small: list[float] = []
    big: list[float] = []
    with Sandbox("histiter") as box:
        config = box.write_config("loop")
        box.touch()
        elapsed, record = box.iterate(config)
        say(f"first iteration (builds, pushes, starts the container): {elapsed:.2f}s")
        say(f"writing {RECORDS:,} records to {box.root / 'iterations-big'} …")
        write_history(box.root / "iterations-big", RECORDS)
        crowded = twin_config(box, config, "iterations-big")
        for label, path in (("1 record", config), (f"{RECORDS:,} records", crowded)):
            elapsed, record = box.iterate(path)
            say(f"warm-up with {label}: {elapsed:.2f}s (iteration {record['number']})")
        for round_number in range(1, ROUNDS + 1):
            elapsed, record = box.iterate(config)
            small.append(elapsed)
            say(f"round {round_number} small folder: {elapsed:.2f}s; {phase_line(record, elapsed)}")
            elapsed, record = box.iterate(crowded)
            big.append(elapsed)
            say(f"round {round_number} {RECORDS:,} records: {elapsed:.2f}s; {phase_line(record, elapsed)}")
    ratio = median(big) / median(small)
    met = verdict(ratio <= GOAL_RATIO)
    figure(
        f"iterate_history: unchanged iterate with {RECORDS:,} records {median(big):.2f}s vs with 1 record "
        f"{median(small):.2f}s = {ratio:.2f}x (median of {ROUNDS}; goal <= {GOAL_RATIO:g}x) {met}"
    )


if __name__ == "__main__":
    main()
