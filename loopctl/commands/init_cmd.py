"""`loopctl init`: write a commented config.yaml to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopctl.exitcodes import ExitCode


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("config.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config.yaml for the sample agent service."""
    from loopctl.errors import UsageError
    from loopctl.init_template import TEMPLATE
    from loopctl.output import guarded
    from loopctl.records.store import write_atomic
    from loopctl.ui import stderr_console

    def run() -> ExitCode:
        if path.exists() and not force:
            raise UsageError(f"{path} already exists", hint="use --force to overwrite it")
        write_atomic(path, TEMPLATE)
        stderr_console().print(
            f"wrote {path}: edit deploy.url and the checks, then run `loopctl iterate`", markup=False
        )
        return ExitCode.OK

    guarded(False, run)
