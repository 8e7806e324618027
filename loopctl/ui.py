"""Human rendering to stderr: rich on terminals, plain when piped, in CI or with NO_COLOR."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from loopctl.errors import LoopctlError
from loopctl.outside import printable
from loopctl.secrets import redact

if TYPE_CHECKING:
    from rich.console import Console

    from loopctl.probe.explain import Explanation
    from loopctl.probe.spec import ProbeResult


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def stderr_console() -> Console:
    from rich.console import Console

    plain = in_ci() or not sys.stderr.isatty()
    return Console(stderr=True, highlight=False, no_color=plain or None, emoji=False, soft_wrap=True)


def shown(text: str) -> str:
    """Text on its way to the terminal: secrets masked, no control character (an escape sequence is data here)."""
    return printable(redact(text))


def render_error(err: LoopctlError) -> None:
    """One line saying what went wrong, one saying what to do; neither read as Rich markup."""
    from rich.text import Text

    console = stderr_console()
    console.print(Text.assemble(("error:", "bold red"), " ", shown(err.message)))
    if err.hint:
        console.print(Text.assemble("  ", ("hint:", "dim"), " ", shown(err.hint)))


def render_probe(result: ProbeResult, *, load: dict[str, Any] | None = None) -> None:
    """Verdict line, then the close code with its name, the reason, events and the hint."""
    from rich.text import Text

    console = stderr_console()
    outcome = result.outcome
    verdict = ("PASS", "bold green") if result.passed else ("FAIL", "bold red")
    console.print(Text.assemble(verdict, f" {shown(result.url)} — {shown(outcome.label)}"))
    origin = f", {outcome.origin}" if outcome.origin else ""
    console.print(Text(shown(f"  outcome: {outcome.category} (depth {outcome.depth}/5{origin})")))
    if outcome.reason and outcome.reason not in outcome.label:
        console.print(Text(f"  reason:  {shown(outcome.reason)}"))
    if result.events_expected:
        marks = " ".join(f"{'❌' if name in result.events_missing else '✅'} {name}" for name in result.events_expected)
        console.print(Text(f"  events:  {shown(marks)}"))
    if result.events_count > len(result.events_seen):
        console.print(Text(f"  seen:    {result.events_count} events (the record keeps the first and last ones)"))
    if result.frames_ignored:
        console.print(f"  ignored: {result.frames_ignored} frame(s) that were not JSON events", markup=False)
    latency = result.latency
    parts = [
        f"{key} {value:g} ms"
        for key, value in (
            ("connect", latency.connect),
            ("first event", latency.first_event),
            ("total", latency.total),
        )
        if value is not None
    ]
    console.print(f"  latency: {', '.join(parts)}", markup=False)
    if load is not None:
        render_load(console, load)
    if outcome.hint:
        console.print(Text.assemble("  ", ("next:", "yellow"), f"    {shown(outcome.hint)}"))


def render_load(console: Console, load: dict[str, Any]) -> None:
    """Sessions by outcome and latency percentiles of a load probe."""
    counts = shown(", ".join(f"{category} {count}" for category, count in load["outcomes"].items()))
    console.print(
        f"  load:    {load['sessions']} sessions at concurrency {load['concurrency']} in {load['wall_s']:g}s: {counts}",
        markup=False,
    )
    for key, row in load["latency_ms"].items():
        if row["p50"] is not None:
            console.print(
                f"  {key:<8} p50 {row['p50']:g} ms, p95 {row['p95']:g} ms, p99 {row['p99']:g} ms", markup=False
            )


def render_explanation(explanation: Explanation) -> None:
    """Plain lines: `classify` is a quick lookup, not worth loading rich for."""
    wire = "" if explanation.on_wire else " (never sent on the wire)"
    lines = [
        f"{explanation.code} {explanation.name}{wire}",
        f"  category: {explanation.category} (depth {explanation.depth}/5)",
        f"  meaning:  {explanation.meaning}",
        f"  next:     {explanation.hint}",
    ]
    sys.stderr.write("\n".join(lines) + "\n")
