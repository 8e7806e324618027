"""`loopctl report [N]` and `loopctl history`: read past iterations back from their records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from loopctl.commands import ConfigOption
from loopctl.exitcodes import ExitCode


def report(
    number: Annotated[int | None, typer.Argument(help="Iteration number (default: the latest).")] = None,
    format: Annotated[
        Literal["md", "json"], typer.Option("--format", help="Markdown report or the JSON record.")
    ] = "md",
    config: ConfigOption = Path("config.yaml"),
    no_emoji: Annotated[bool, typer.Option("--no-emoji", help="Plain text markers.")] = False,
) -> None:
    """Print a past iteration's report, re-rendered from its record."""
    from loopctl.past_iterations import past_report
    from loopctl.terminal.output import emit_json, guarded

    def run() -> ExitCode:
        record, text = past_report(config, number, emoji=not no_emoji)
        if format == "json":
            emit_json("report", record.to_json_dict(), exit_code=ExitCode.OK)
        else:
            typer.echo(text, nl=False)
        return ExitCode.OK

    guarded(format == "json", run, command="report")


def history(
    last: Annotated[int, typer.Option("--last", min=1, help="How many iterations to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")] = False,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """One row per iteration (number, date, commit, status, blocking outcome, P1 pass rate) and the trend."""
    import sys

    from loopctl.past_iterations import past_rows
    from loopctl.records.history import HistoryRow, history_json, history_text, render_history
    from loopctl.terminal.console import plain_output, rich_console
    from loopctl.terminal.output import emit_json, guarded

    def run() -> ExitCode:
        rows = past_rows(config, last)
        if as_json:
            emit_json("history", history_json(rows), exit_code=ExitCode.OK)
        elif plain_output():
            sys.stderr.write(history_text([HistoryRow(**row) for row in rows]))
        else:
            render_history([HistoryRow(**row) for row in rows], rich_console())
        return ExitCode.OK

    guarded(as_json, run, command="history")
