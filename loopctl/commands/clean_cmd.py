"""`loopctl clean`: remove the containers, networks and image tags loopctl made for this project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopctl.commands import ConfigOption
from loopctl.exitcodes import ExitCode


def clean(
    keep: Annotated[int, typer.Option("--keep", min=0, help="Iterations whose containers and images stay.")] = 3,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would go; remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")] = False,
    config: ConfigOption = Path("config.yaml"),
) -> None:
    """Remove what loopctl left for this project, bar the last --keep iterations and whatever is serving."""
    from dataclasses import asdict

    from loopctl.cleanup import sweep
    from loopctl.config import load_config
    from loopctl.terminal.console import render_sweep
    from loopctl.terminal.output import emit_json, guarded

    def run() -> ExitCode:
        swept = sweep(load_config(config), keep=keep, dry_run=dry_run)
        if as_json:
            found = [asdict(item) for item in swept.found]
            emit_json(
                "clean",
                {"dry_run": dry_run, "keep": keep, "found": found, "notes": swept.notes},
                exit_code=ExitCode.OK,
            )
        render_sweep(swept)
        return ExitCode.OK

    guarded(as_json, run, command="clean")
