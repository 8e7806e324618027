"""The command line: assembles the commands into one Typer app. Only `__main__` and the console script import it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from loopctl import __version__
from loopctl.commands import (
    classify_cmd,
    doctor_cmd,
    init_cmd,
    iterate_cmd,
    loop_cmd,
    probe_cmd,
    report_cmd,
)

app = typer.Typer(
    name="loopctl",
    help="Build, push, deploy and probe a service, then report what changed since the last iteration.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    # Plain click help: rich's markdown machinery would cost more than everything else at start-up.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"loopctl {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Build, push, deploy and probe a service, then report what changed since the last iteration."""


app.command("init")(init_cmd.init)
app.command("iterate")(iterate_cmd.iterate)
app.command("loop")(loop_cmd.loop)
app.command("probe")(probe_cmd.probe)
app.command("report")(report_cmd.report)
app.command("history")(report_cmd.history)
app.command("classify")(classify_cmd.classify)
app.command("doctor")(doctor_cmd.doctor)
