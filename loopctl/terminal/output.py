"""What every command shares at its edge: the one JSON envelope on stdout, and the guard that maps errors to exits."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import typer

from loopctl.errors import ErrorKind, LoopctlError, UsageError
from loopctl.exitcodes import ExitCode


def emit_json(command: str, data: Any, *, exit_code: int, errors: Sequence[dict[str, str]] = ()) -> None:
    """The one machine-readable document a command prints: the envelope, stdout, sorted keys, one line."""
    import json  # only --json pays for it

    from loopctl.terminal.envelope import envelope

    document = envelope(command, exit_code=exit_code, data=data, errors=errors)
    sys.stdout.write(json.dumps(document, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(err: LoopctlError, *, command: str | None, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    """Render an expected failure as one message (and the envelope when `command` printed JSON), then exit."""
    from loopctl.terminal.console import render_error
    from loopctl.terminal.envelope import error_entry

    render_error(err)
    if command is not None:
        emit_json(command, None, exit_code=code, errors=[error_entry(err)])
    raise typer.Exit(code)


def guarded(as_json: bool, action: Callable[[], ExitCode], *, command: str) -> NoReturn:
    """Run a command body; expected failures become a message and exit code, bugs keep their traceback."""
    try:
        code = action()
    except LoopctlError as err:
        fail(err, command=command if as_json else None)
    except KeyboardInterrupt:
        # Outside a phase (loading the config, waiting for the lock): nothing was started, nothing to record.
        sys.stderr.write("interrupted\n")
        code = ExitCode.INTERRUPTED
        if as_json:
            emit_json(command, None, exit_code=code, errors=[{"kind": ErrorKind.INTERRUPTED, "message": "interrupted"}])
    raise typer.Exit(code)


def json_requested(args: Sequence[str]) -> bool:
    """Whether the command line asks for JSON: then even an argument the parser refuses gets an envelope."""
    return (
        "--json" in args
        or "--format=json" in args
        or any(first == "--format" and second == "json" for first, second in itertools.pairwise(args))
    )


def run_parsed(app: Callable[..., Any], command: str | None) -> NoReturn:
    """Run the app with JSON asked for: a parser error becomes one line on stderr and the envelope on stdout."""
    from loopctl.terminal.console import render_error
    from loopctl.terminal.envelope import error_entry

    refused_by_parser, aborted = _parser_exceptions()
    try:
        returned = app(prog_name="loopctl", standalone_mode=False)
    except refused_by_parser as err:
        name = f"loopctl {command}" if command else "loopctl"
        refused = UsageError(err.format_message(), hint=f"see `{name} --help`")
        render_error(refused)
        emit_json(command or "loopctl", None, exit_code=ExitCode.USAGE, errors=[error_entry(refused)])
        sys.exit(ExitCode.USAGE)
    except aborted:
        sys.exit(ExitCode.INTERRUPTED)
    sys.exit(returned if isinstance(returned, int) else 0)


def _parser_exceptions() -> tuple[type[Any], type[BaseException]]:
    """The parser's usage error and abort: click's own, which newer Typer releases vendor under `typer._click`."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # an older Typer, on the real click
        from click.exceptions import ClickException  # type: ignore[assignment]
    return ClickException, typer.Abort
