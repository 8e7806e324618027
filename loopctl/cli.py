"""The command line: assembles the commands into one Typer app. Only `__main__` and the console script import it."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from loopctl import __version__
from loopctl.terminal.output import json_requested, run_parsed

HELP = "Build, push, deploy and probe a service, then report what changed since the last iteration."
# Command name → (module in loopctl.commands, function): only the module of the command asked for is imported.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init_cmd", "init"),
    "iterate": ("iterate_cmd", "iterate"),
    "loop": ("loop_cmd", "loop"),
    "probe": ("probe_cmd", "probe"),
    "report": ("report_cmd", "report"),
    "history": ("report_cmd", "history"),
    "classify": ("classify_cmd", "classify"),
    "doctor": ("doctor_cmd", "doctor"),
    "mcp": ("mcp_cmd", "mcp"),
    "clean": ("clean_cmd", "clean"),
}
# Commands whose every write is done and closed when they return (stdout and stderr, the history cache through
# `with`): no thread, temp folder or atexit hook of theirs is left for the interpreter's teardown to finish, so
# the process ends as soon as both streams are flushed. Not iterate, loop, probe or doctor (threads, SDK clients).
ENDS_AT_ONCE = frozenset({"classify", "history"})
_PRINT_ONLY = (None, "--help", "--version")  # `loopctl` alone prints the help too


def command(name: str) -> Callable[..., Any]:
    """The function behind command `name`, its module imported now."""
    module, function = COMMANDS[name]
    return getattr(importlib.import_module(f"loopctl.commands.{module}"), function)  # type: ignore[no-any-return]


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
    for name in COMMANDS:
        if names is None or name in names:
            built.command(name)(command(name))
    return built


def __getattr__(name: str) -> Any:
    if name == "app":  # `from loopctl.cli import app` (typer's test runner): every command, built when asked for
        return build_app()
    raise AttributeError(name)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A config key under an old name is one `warning:` line on stderr, not Python's file:line form."""
    from loopctl.errors import ConfigDeprecation

    if issubclass(category, ConfigDeprecation):
        sys.stderr.write(f"warning: {message}\n")
    else:
        _python_show_warning(message, category, *args, **kwargs)


_python_show_warning = warnings.showwarning


def main() -> None:
    """The console script and `python -m loopctl`: the app with only the command asked for, else all of them.

    Typer builds the parameters of every registered command on each run, about 10 ms for all eight.
    """
    warnings.showwarning = _show_warning
    asked = sys.argv[1] if len(sys.argv) > 1 else None
    known = asked if asked in COMMANDS else None
    app = build_app([known] if known else None)
    if asked not in ENDS_AT_ONCE and asked not in _PRINT_ONLY:
        _run(app, known)
        return
    try:
        _run(app, known)
    except SystemExit as done:
        if done.code is not None and not isinstance(done.code, int):
            raise
        _end_now(done.code or 0)


def _run(app: typer.Typer, known: str | None) -> None:
    """With JSON asked for, even an argument the parser refuses gets the envelope."""
    if json_requested(sys.argv[2:]):
        run_parsed(app, known)
    app(prog_name="loopctl")


def _end_now(code: int) -> None:
    """Flush both streams and leave without the interpreter's teardown (module and object clean-up, ~10 ms)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away (`| head`): nothing to deliver
            stream.flush()
    os._exit(code)
