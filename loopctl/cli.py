"""The command line: parse, call the core, render, exit. No decisions live here."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer

from loopctl import __version__
from loopctl.errors import LoopctlError
from loopctl.exitcodes import ExitCode

app = typer.Typer(
    name="loopctl",
    help="Build, push, deploy and probe a service, then report what changed since the last iteration.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    # Plain click help: rich's markdown machinery would cost more than everything else at start-up.
    rich_markup_mode=None,
)


def emit_json(document: dict[str, Any]) -> None:
    """The one machine-readable document a command prints: stdout, sorted keys, one line."""
    sys.stdout.write(json.dumps(document, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(err: LoopctlError, *, as_json: bool, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    """Render an expected failure as one message (and a JSON envelope with --json), then exit."""
    from loopctl.secrets import redact
    from loopctl.ui import render_error

    render_error(err)
    if as_json:
        emit_json({"schema": 1, "error": {"kind": err.kind, "message": redact(err.message), "hint": err.hint}})
    raise typer.Exit(code)


def guarded(as_json: bool, action: Callable[[], ExitCode]) -> NoReturn:
    """Run a command body; expected failures become a message and exit code, bugs keep their traceback."""
    try:
        code = action()
    except LoopctlError as err:
        fail(err, as_json=as_json)
    except KeyboardInterrupt:
        # Outside a phase (loading the config, waiting for the lock): nothing was started, nothing to record.
        sys.stderr.write("interrupted\n")
        code = ExitCode.INTERRUPTED
    raise typer.Exit(code)


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


from loopctl.commands import (  # noqa: E402
    classify_cmd,
    doctor_cmd,
    init_cmd,
    iterate_cmd,
    loop_cmd,
    probe_cmd,
    report_cmd,
)

app.command("init")(init_cmd.init)
app.command("iterate")(iterate_cmd.iterate)
app.command("loop")(loop_cmd.loop)
app.command("probe")(probe_cmd.probe)
app.command("report")(report_cmd.report)
app.command("history")(report_cmd.history)
app.command("classify")(classify_cmd.classify)
app.command("doctor")(doctor_cmd.doctor)
