"""Live progress of an iteration: a rich phase list on terminals, timestamped plain lines elsewhere."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopctl.outside_text import NOTE_LIMIT, one_line
from loopctl.phases.base import Event, EventSink
from loopctl.terminal.console import rich_console, shown, stderr_console

if TYPE_CHECKING:
    from loopctl.terminal.console import Lines

_MARKS = {"ok": "✓", "failed": "✗", "skipped": "–", "aborted": "!"}
_STYLES = {"ok": "green", "failed": "red", "skipped": "dim", "aborted": "yellow"}


class PlainLines:
    """For CI and pipes: one timestamped line per event, no colour, no cursor tricks."""

    def __init__(self, console: Lines) -> None:
        self.console = console

    def __call__(self, event: Event) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        if event.kind == "start":
            text = "started"
        elif event.kind == "end":
            took = f" in {event.duration_s:.1f}s" if event.duration_s else ""
            text = f"{event.status}{took}" + (f": {event.message}" if event.message else "")
        else:
            text = event.message
        self.console.print(shown(f"{stamp} {event.label:<7} {text}"), markup=False, highlight=False)


class PhaseBoard:
    """For terminals: the phase list with a spinner on the running one and the last line it logged."""

    def __init__(self, names: list[str]) -> None:
        self.rows: dict[str, dict[str, Any]] = {name: {"status": "pending", "note": ""} for name in names}

    def __call__(self, event: Event) -> None:
        row = self.rows.setdefault(event.label, {"status": "pending", "note": ""})
        if event.kind == "start":
            row.update(status="running", began=time.monotonic())
        elif event.kind == "end":
            row.update(status=event.status, duration=event.duration_s, note=_note(event.message))
        else:
            row["note"] = _note(event.message)

    def __rich__(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        for name, row in list(self.rows.items()):  # builds of several services report from their threads
            status = row["status"]
            if status == "running":
                mark: Any = Spinner("dots", style="cyan")
                took = f"{time.monotonic() - row['began']:.1f}s"
            else:
                mark = Text(_MARKS.get(status, "·"), style=_STYLES.get(status, "dim"))
                took = f"{row['duration']:.1f}s" if row.get("duration") is not None else ""
            # Build lines and server text are shown as they are: `[/]` in a log line is text, not markup.
            table.add_row(mark, Text(name), Text(took), Text(row["note"], style="dim"))
        return table


def _note(message: str) -> str:
    """The last line a phase said, for one row of the board."""
    return one_line(message, NOTE_LIMIT)


@contextlib.contextmanager
def progress(phase_names: list[str], *, live: bool) -> Iterator[EventSink]:
    """The event sink for one iteration: live board or plain lines."""
    if not live:
        yield PlainLines(stderr_console())
        return
    from rich.live import Live

    board = PhaseBoard(phase_names)
    with Live(board, console=rich_console(), refresh_per_second=8, transient=False):
        yield board
