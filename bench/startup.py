"""Start-up cost of `loopctl --help` and `loopctl classify 1011` over the bare interpreter, interleaved runs."""

from __future__ import annotations

import re
from pathlib import Path

from timing import LOOPCTL, PYTHON, checked, figure, median, ms, require_venv, say, timed, verdict

RUNS = 20
WARMUP = 3
# Over the bare interpreter, per command.
GOALS_S = {"loopctl --help": 0.080, "loopctl classify 1011": 0.060}
COMMANDS: dict[str, list[str | Path]] = {
    "python -c pass": [PYTHON, "-c", "pass"],
    "loopctl --help": [LOOPCTL, "--help"],
    "loopctl classify 1011": [LOOPCTL, "classify", "1011"],
}
# Heavy modules `--help` must not pay for (STYLE.md habit 10), and the ones it may need.
WATCHED = ("docker", "requests", "google.cloud.run_v2", "websockets", "yaml", "pydantic", "rich", "typer")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)$")


def measure() -> dict[str, list[float]]:
    """RUNS wall-clock times per command, the commands interleaved so drift hits them alike."""
    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    for round_number in range(-WARMUP, RUNS):
        for label, argv in COMMANDS.items():
            elapsed, done = timed(argv, capture=False)
            if done.returncode != 0:
                say(f"{label} exited {done.returncode}")
                raise SystemExit(1)
            if round_number >= 0:
                times[label].append(elapsed)
    return times


def imports_of(argv: list[str | Path]) -> dict[str, tuple[int, int]]:
    """Every module a command imports: name → (nesting depth, cumulative µs), from `python -X importtime`."""
    _, done = checked([PYTHON, "-X", "importtime", *argv])
    modules: dict[str, tuple[int, int]] = {}
    for line in done.stderr.splitlines():
        if match := _IMPORT_LINE.match(line):
            modules[match[3]] = ((len(match[2]) - 1) // 2, int(match[1]))
    return modules


def roots(modules: dict[str, tuple[int, int]]) -> list[tuple[str, int]]:
    """The imports nobody else triggered (depth 0), by cumulative time: each carries its whole subtree."""
    found = {name: cumulative for name, (depth, cumulative) in modules.items() if depth == 0}
    return sorted(found.items(), key=lambda item: item[1], reverse=True)


def report_imports(label: str, argv: list[str | Path]) -> None:
    """Which watched modules the command imported, and its heaviest top-level imports."""
    modules = imports_of(argv)
    loaded = [name for name in WATCHED if name in modules]
    missing = [name for name in WATCHED if name not in modules]
    say(f"  {label} imports: {', '.join(loaded) or 'none of the watched'}; not: {', '.join(missing) or '-'}")
    heaviest = ", ".join(f"{name} {micros / 1000:.1f} ms" for name, micros in roots(modules)[:8])
    say(f"  {label} heaviest import roots (-X importtime, cumulative): {heaviest}")


def main() -> None:
    require_venv()
    say(f"startup: {RUNS} interleaved runs (+{WARMUP} warm-up) of {', '.join(COMMANDS)}")
    times = measure()
    bare = median(times["python -c pass"])
    for label, samples in times.items():
        say(f"  {label}: median {ms(median(samples))}, min {ms(min(samples))}, max {ms(max(samples))}")
    overheads = {label: median(samples) - bare for label, samples in times.items() if label != "python -c pass"}
    for label, argv in COMMANDS.items():
        if label != "python -c pass":
            report_imports(label, argv)
    met = all(overheads[label] <= goal for label, goal in GOALS_S.items())
    parts = ", ".join(f"{label} +{ms(extra)} (goal <= +{ms(GOALS_S[label])})" for label, extra in overheads.items())
    figure(f"startup: {parts} over python -c pass (median of {RUNS}) {verdict(met)}")


if __name__ == "__main__":
    main()
