"""Human rendering to stderr: rich on terminals, plain when piped, in CI or with NO_COLOR."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, Protocol

from loopctl.errors import LoopctlError
from loopctl.outside_text import printable
from loopctl.secrets import redact

if TYPE_CHECKING:
    from rich.console import Console

    from loopctl.cleanup import Sweep
    from loopctl.probe.explain import Explanation
    from loopctl.probe.spec import ProbeResult


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Lines(Protocol):
    """What renderers print through: a rich Console on terminals, `PlainConsole` elsewhere."""

    def print(self, *objects: Any, markup: bool | None = None, highlight: bool | None = None) -> None: ...


# rich's own markup tag pattern (rich/markup.py): a tag preceded by an odd number of backslashes is literal text.
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")


class PlainConsole:
    """stderr lines without rich (pipes, CI logs): markup tags dropped, text written as given, nothing imported."""

    def print(self, *objects: Any, markup: bool | None = None, highlight: bool | None = None) -> None:
        text = " ".join(str(item) for item in objects)
        if markup is not False:
            text = _TAG.sub(_plain_tag, text)
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _plain_tag(match: re.Match[str]) -> str:
    backslashes, tag = match[2], match[3]
    kept = "\\" * (len(backslashes) // 2)
    return f"{kept}[{tag}]" if len(backslashes) % 2 else kept


def plain_output() -> bool:
    """Whether stderr gets plain lines: in CI, or not a terminal."""
    return in_ci() or not sys.stderr.isatty()


def stderr_console() -> Lines:
    """The plain console when stderr is not a terminal (rich is not even imported), rich's Console otherwise."""
    if plain_output():
        return PlainConsole()
    return rich_console()


def rich_console() -> Console:
    """A rich Console on stderr, for what needs rich's drawing (tables, the live board) even in a pipe."""
    from rich.console import Console

    plain = plain_output()
    return Console(stderr=True, highlight=False, no_color=plain or None, emoji=False, soft_wrap=True)


def shown(text: str) -> str:
    """Text on its way to the terminal: secrets masked, no control character (an escape sequence is data here)."""
    return printable(redact(text))


def render_error(err: LoopctlError) -> None:
    """One line saying what went wrong, one saying what to do; neither read as Rich markup."""
    console = stderr_console()
    console.print(f"[bold red]error:[/] {_escape(console, shown(err.message))}")
    if err.hint:
        console.print(f"  [dim]hint:[/] {_escape(console, shown(err.hint))}")


def _escape(console: Lines, text: str) -> str:
    """Outside text as literal text in markup: rich's own escaping (rich/markup.py), without importing rich."""
    if not isinstance(console, PlainConsole):
        from rich.markup import escape

        return escape(text)
    # (rich also doubles a trailing backslash, so that a tag written right after stays a tag; the renderers
    # here never write one there, and a plain line shows the text exactly as it came.)
    return _ESCAPABLE.sub(r"\1\1\\\2", text)


_ESCAPABLE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def _steps_lines(steps: dict[str, Any] | None) -> list[str]:
    """A conversation's step reached, its payload mismatch and what came instead."""
    if not steps:
        return []
    done, total = steps.get("done", 0), steps.get("total", 0)
    where = f"all {total} steps" if done >= total else f"step {steps.get('reached')}/{total}: {steps.get('at')}"
    lines = [f"  step:    {where} ({done}/{total} done)"]
    lines += [f"  payload: {steps['mismatch']}"] if steps.get("mismatch") else []
    lines += [f"  instead: {frame}" for frame in steps.get("instead") or []]
    return lines


def render_probe(result: ProbeResult, *, load: dict[str, Any] | None = None) -> None:
    """Verdict line, then the close code with its name, the reason, events and the hint."""
    console = stderr_console()

    def escape(text: str) -> str:
        return _escape(console, shown(text))

    outcome = result.outcome
    verdict = "[bold green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
    console.print(f"{verdict} {escape(result.url)} — {escape(outcome.label)}")
    origin = f", {outcome.origin}" if outcome.origin else ""
    console.print(f"  outcome: {outcome.category} (depth {outcome.depth}/5{origin})", markup=False)
    if outcome.reason and outcome.reason not in outcome.label:
        console.print(f"  reason:  {escape(outcome.reason)}")
    if result.events_expected:
        marks = " ".join(f"{'❌' if name in result.events_missing else '✅'} {name}" for name in result.events_expected)
        console.print(f"  events:  {escape(marks)}")
    for line in _steps_lines(result.steps):
        console.print(escape(line))
    if result.events_count > len(result.events_seen):
        console.print(
            f"  seen:    {result.events_count} events (the record keeps the first and last ones)", markup=False
        )
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
    console.print(f"  latency: {', '.join(parts)}")
    if load is not None:
        render_load(console, load)
    if outcome.hint:
        console.print(f"  [yellow]next:[/]    {escape(outcome.hint)}")


def render_load(console: Lines, load: dict[str, Any]) -> None:
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


def render_sweep(swept: Sweep) -> None:
    """One line per thing `clean` removed (or would), then what it kept and why, then what it could not do."""
    console = stderr_console()
    verb = "would remove" if swept.dry_run else "removed"
    for item in swept.removed:
        console.print(f"{verb} {item.kind} {shown(item.name)}{_tags(item.tags)}", markup=False)
    for item in swept.kept:
        console.print(f"kept {item.kind} {shown(item.name)}{_tags(item.tags)}: {item.why_kept}", markup=False)
    for note in swept.notes:
        console.print(f"note: {shown(note)}", markup=False)
    if not swept.found:
        console.print("nothing loopctl made for this project is left", markup=False)


def _tags(tags: tuple[str, ...]) -> str:
    return f" ({', '.join(tags)})" if tags else ""
