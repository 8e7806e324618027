"""The command line: assembles the commands into one Typer app. Only `__main__` and the console script import it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from loopctl import __version__
from loopctl.commands import (
    classify_cmd,
    clean_cmd,
    doctor_cmd,
    init_cmd,
    iterate_cmd,
    loop_cmd,
    probe_cmd,
    report_cmd,
)

HELP = "Build, push, deploy and probe a service, then report what changed since the last iteration."
COMMANDS: dict[str, Callable[..., Any]] = {
    "init": init_cmd.init,
    "iterate": iterate_cmd.iterate,
    "loop": loop_cmd.loop,
    "probe": probe_cmd.probe,
    "report": report_cmd.report,
    "history": report_cmd.history,
    "classify": classify_cmd.classify,
    "doctor": doctor_cmd.doctor,
    "clean": clean_cmd.clean,
}


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"loopctl {__version__}\n")
        raise typer.Exit()


def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Build, push, deploy and probe a service, then report what changed since the last iteration."""


def build_app(names: Sequence[str] | None = None) -> typer.Typer:
    """The app with the named commands (all of them by default), in the order `--help` lists them."""
    built = typer.Typer(
        name="loopctl",
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
        # Plain click help: rich's markdown machinery would cost more than everything else at start-up.
        rich_markup_mode=None,
    )
    built.callback()(_main)
    for name, command in COMMANDS.items():
        if names is None or name in names:
            built.command(name)(command)
    return built


app = build_app()


def main() -> None:
    """The console script and `python -m loopctl`: the app with only the command asked for, else all of them.

    Typer builds the parameters of every registered command on each run, about 10 ms for all eight.
    """
    asked = sys.argv[1] if len(sys.argv) > 1 else None
    build_app([asked] if asked in COMMANDS else None)(prog_name="loopctl")
