"""Start-up cost of `loopctl --help` and `loopctl classify 1011` over the bare interpreter, interleaved runs.

Each round runs the three commands back to back; a command's overhead is its time minus the bare interpreter's in
the same round (paired), wall clock and CPU time (user + system, which a loaded machine disturbs less).
"""

from __future__ import annotations

import re
import resource
from pathlib import Path

from timing import LOOPCTL, PYTHON, checked, figure, median, ms, require_venv, say, spread, timed, verdict

RUNS = 20
WARMUP = 3
# Over the bare interpreter, per command.
GOALS_S = {"loopctl --help": 0.080, "loopctl classify 1011": 0.050}
COMMANDS: dict[str, list[str | Path]] = {
    "python -c pass": [PYTHON, "-c", "pass"],
    "loopctl --help": [LOOPCTL, "--help"],
    "loopctl classify 1011": [LOOPCTL, "classify", "1011"],
}
# Heavy modules `--help` must not pay for (STYLE.md habit 10), and the ones it may need.
WATCHED = ("docker", "requests", "google.cloud.run_v2", "websockets", "yaml", "pydantic", "rich", "typer")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)$")


def measure() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """RUNS wall-clock and CPU times per command, the commands interleaved so drift hits them alike."""
    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    cpu: dict[str, list[float]] = {label: [] for label in COMMANDS}
    for round_number in range(-WARMUP, RUNS):
        for label, argv in COMMANDS.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            elapsed, done = timed(argv, capture=False)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                say(f"{label} exited {done.returncode}")
                raise SystemExit(1)
            if round_number >= 0:
                times[label].append(elapsed)
                cpu[label].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return times, cpu


def paired(samples: dict[str, list[float]], label: str) -> list[float]:
    """The command's time minus the bare interpreter's, round by round."""
    return [mine - bare for mine, bare in zip(samples[label], samples["python -c pass"], strict=True)]


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
    times, cpu = measure()
    for label, samples in times.items():
        say(f"  {label}: wall {spread(samples, 'ms')}, CPU {spread(cpu[label], 'ms')} (min/median/max)")
    overheads = {label: median(paired(times, label)) for label in GOALS_S}
    for label in GOALS_S:
        say(
            f"  {label} over python -c pass, paired (min/median/max): wall +{spread(paired(times, label), 'ms')},"
            f" CPU +{spread(paired(cpu, label), 'ms')}"
        )
    for label, argv in COMMANDS.items():
        if label != "python -c pass":
            report_imports(label, argv)
    met = all(overheads[label] <= goal for label, goal in GOALS_S.items())
    parts = ", ".join(f"{label} +{ms(extra)} (goal <= +{ms(GOALS_S[label])})" for label, extra in overheads.items())
    cpu_parts = ", ".join(f"{label} +{ms(median(paired(cpu, label)))}" for label in GOALS_S)
    figure(f"startup: {parts} over python -c pass (paired, median of {RUNS}; CPU: {cpu_parts}) {verdict(met)}")


if __name__ == "__main__":
    main()
