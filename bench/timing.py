"""Shared by the benchmark scripts: where the venv is, timed subprocesses, medians and progress on stderr."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
LOOPCTL = VENV_BIN / "loopctl"
COMMAND_TIMEOUT_S = 600


def say(message: str) -> None:
    """One progress line on stderr (stdout is kept for the figure)."""
    print(message, file=sys.stderr, flush=True)


def figure(line: str) -> None:
    """The benchmark's result: the last line of stdout."""
    print(line, flush=True)


def require_venv() -> None:
    """Stop with a one-line reason when the venv the scripts measure is missing."""
    if not LOOPCTL.exists():
        say(f"no {LOOPCTL}: run `make venv` (or `make test`) first")
        raise SystemExit(2)
    # An installed loopctl has its bytecode; where PYTHONDONTWRITEBYTECODE is set, every measured start would
    # compile loopctl from source instead (~20 ms of `classify`), so compile it once, as pip does on install.
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(REPO / "loopctl")], check=True, capture_output=True)


def timed(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    capture: bool = True,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run argv to completion; its wall-clock seconds and the finished process.

    The output always goes to pipes, even when it is not kept: with a timeout and no pipe to read,
    `subprocess.run` waits by polling with sleeps of up to 50 ms, which once added ~40 ms to every short
    command measured here; reading pipes to their end returns as the process exits.
    """
    began = time.perf_counter()
    done = subprocess.run(
        [str(part) for part in argv],
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if not capture:
        done.stdout = done.stderr = None
    return elapsed, done


def checked(
    argv: Sequence[str | Path], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """timed(), but a non-zero exit stops the benchmark with the tail of the command's stderr."""
    elapsed, done = timed(argv, env=env, cwd=cwd)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or "").splitlines()[-25:])
        say(f"FAILED (exit {done.returncode}): {' '.join(str(part) for part in argv)}\n{tail}")
        raise SystemExit(1)
    return elapsed, done


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def spread(values: Sequence[float], unit: str = "s") -> str:
    """`min/median/max` of the samples, in seconds (`unit="s"`) or milliseconds (`unit="ms"`)."""
    scale, digits = (1000.0, 0) if unit == "ms" else (1.0, 2)
    low, middle, high = (scale * value for value in (min(values), median(values), max(values)))
    return f"{low:.{digits}f}/{middle:.{digits}f}/{high:.{digits}f} {unit}"
