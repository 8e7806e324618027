"""`loopctl mcp`: serve the loop to coding agents as MCP tools over stdio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopctl.exitcodes import ExitCode


def mcp(
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="LOOPCTL_CONFIG", help="The config of the project served.")
    ] = Path("config.yaml"),
) -> None:
    """Run a Model Context Protocol server on stdin/stdout: iterate, status, result, evidence, diff and more."""
    from loopctl.errors import UsageError
    from loopctl.terminal.output import guarded

    def run() -> ExitCode:
        try:
            from loopctl.mcp.server import serve
        except ImportError as err:
            if (err.name or "").split(".")[0] not in ("mcp", "mcp_types"):
                raise
            raise UsageError(
                "loopctl mcp needs the MCP SDK, which is not installed",
                hint="pip install 'loopctl[mcp]'",
            ) from None
        serve(config)
        return ExitCode.OK

    guarded(False, run, command="mcp")
