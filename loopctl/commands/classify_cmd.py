"""`loopctl classify CODE`: what a close code or HTTP status means here."""

from __future__ import annotations

from typing import Annotated

import typer

from loopctl.exitcodes import ExitCode


def classify(
    code: Annotated[int, typer.Argument(help="A WebSocket close code (1000–4999) or an HTTP status (100–599).")],
    client: Annotated[
        bool,
        typer.Option("--client", help="Read the code as one the probe sent itself (e.g. keepalive 1011)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")] = False,
) -> None:
    """Explain a close code or an HTTP status: category, depth on the ladder, and what to look at next."""
    from loopctl.probe.explain import explain
    from loopctl.terminal.console import render_explanation
    from loopctl.terminal.output import emit_json, guarded

    def run() -> ExitCode:
        explanation = explain(code, origin="client" if client else "server")
        if as_json:
            emit_json("classify", explanation.to_dict(), exit_code=ExitCode.OK)
        else:
            render_explanation(explanation)
        return ExitCode.OK

    guarded(as_json, run, command="classify")
