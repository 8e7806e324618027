"""`loopctl iterate`: one iteration of build → push → deploy → probe → suites, recorded and reported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from loopctl.commands import ConfigOption
from loopctl.exitcodes import ExitCode

FailOn = Literal["any", "regression", "never"]


def iterate(
    config: ConfigOption = Path("config.yaml"),
    skip: Annotated[str, typer.Option(help="Phases to skip, comma-separated (build,push,deploy,probe,suites).")] = "",
    image: Annotated[str | None, typer.Option(help="Deploy this image reference; skips build and push.")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Build even when the input digest is unchanged.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record to stdout (one JSON document).")] = False,
    junit_xml: Annotated[Path | None, typer.Option(help="Also write checks and suites as JUnit XML here.")] = None,
    fail_on: Annotated[
        FailOn, typer.Option(help="Which statuses exit 1: any failure, only a regression, never.")
    ] = "any",
    ci: Annotated[
        bool, typer.Option("--ci", help="Plain log lines, no live view, no colour (on when CI=true).")
    ] = False,
    no_emoji: Annotated[bool, typer.Option("--no-emoji", help="Plain text markers in the report.")] = False,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="Only this service and what it depends on (repeatable; config with services:)."),
    ] = None,
) -> None:
    """Run one iteration, store iterations/NNNN.json and .md, and say what changed since the last one."""
    from loopctl.iterate import IterateOptions, run_iterate
    from loopctl.terminal.output import guarded

    def run() -> ExitCode:
        options = IterateOptions(
            config_path=config,
            skip=skip,
            image=image,
            no_cache=no_cache,
            as_json=as_json,
            junit_xml=junit_xml,
            fail_on=fail_on,
            ci=ci,
            emoji=not no_emoji,
            services=tuple(service or ()),
        )
        return run_iterate(options)

    guarded(as_json, run, command="iterate")
