"""`loopctl loop`: iterate again whenever the source changes, until every check is green."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from loopctl.commands import ConfigOption
from loopctl.exitcodes import ExitCode


def loop(
    config: ConfigOption = Path("config.yaml"),
    max_iterations: Annotated[int | None, typer.Option("--max", min=1, help="Stop after this many iterations.")] = None,
    until: Annotated[
        Literal["success", "never"], typer.Option(help="Stop at the first success, or never.")
    ] = "success",
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between iterations when nothing is built (no files to watch).")
    ] = 2.0,
    debounce: Annotated[
        float, typer.Option(min=0.0, help="Seconds the files must hold still after a change (one save = one change).")
    ] = 0.05,
    every: Annotated[
        float | None, typer.Option(min=0.1, help="Re-run on this timer instead of on changes (a soak loop).")
    ] = None,
    skip: Annotated[str, typer.Option(help="Phases to skip in every iteration, comma-separated.")] = "",
    ci: Annotated[bool, typer.Option("--ci", help="Plain log lines, no live view, no colour.")] = False,
    no_emoji: Annotated[bool, typer.Option("--no-emoji", help="Plain text markers in the reports.")] = False,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="Only this service and what it depends on (repeatable; config with services:)."),
    ] = None,
) -> None:
    """Run `iterate`, then wait for a file the build's input digest covers to change, and repeat."""
    from loopctl.iterate import IterateOptions
    from loopctl.looping import LoopOptions, run_loop
    from loopctl.terminal.output import guarded

    def run() -> ExitCode:
        iterate = IterateOptions(
            config_path=config, skip=skip, ci=ci, emoji=not no_emoji, services=tuple(service or ())
        )
        options = LoopOptions(iterate, max_iterations, until, interval, debounce, every)
        return run_loop(options)

    guarded(False, run, command="loop")
