"""What every command shares at its edge: the one JSON document on stdout, and the guard that maps errors to exits."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer

from loopctl.errors import LoopctlError
from loopctl.exitcodes import ExitCode


def emit_json(document: dict[str, Any]) -> None:
    """The one machine-readable document a command prints: stdout, sorted keys, one line."""
    import json  # only --json pays for it

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
