"""`loopctl init`: write a commented config.yaml for a target, fitted to the repo's Dockerfile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from loopctl.exitcodes import ExitCode

TargetOption = Literal["docker", "cloudrun", "url", "compose"]


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config (its folder is the repo's root).")] = Path(
        "config.yaml"
    ),
    target: Annotated[
        TargetOption | None,
        typer.Option(
            help="docker (build and run on the local engine), compose (run the Compose file beside the config), "
            "cloudrun, or url (a service deployed by other means). Default: compose when a Compose file is beside "
            "the config, else docker when a Dockerfile is, else url."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config.yaml; add the iterations folder to .dockerignore and .gitignore."""
    from loopctl.errors import UsageError
    from loopctl.init_template import check_ignores, detect_service, ignore_warnings, render_config, write_ignores
    from loopctl.records.store import store_errors, write_atomic
    from loopctl.terminal.console import stderr_console
    from loopctl.terminal.output import guarded

    def run() -> ExitCode:
        if path.exists() and not force:
            raise UsageError(f"{path} already exists", hint="use --force to overwrite it")
        folder = path.parent
        service = detect_service(folder)
        chosen = target or ("compose" if service.compose else "docker" if service.dockerfile else "url")
        if chosen == "compose" and service.compose is None:
            raise UsageError(
                f"no Compose file in {folder.resolve()}: --target compose runs one",
                hint=f"add one ({' or '.join(('compose.yaml', 'docker-compose.yml'))}), or use --target docker",
            )
        if chosen in ("docker", "cloudrun") and service.dockerfile is None:
            raise UsageError(
                f"no Dockerfile in {folder.resolve()}: --target {chosen} builds one",
                hint="add a Dockerfile beside the config, or use --target url for a service deployed by other means",
            )
        check_ignores(folder, chosen)
        with store_errors(f"cannot write {path} and its ignore files", hint="give a path in a writable folder"):
            write_atomic(path, render_config(chosen, service))
            ignores = write_ignores(folder, chosen)
        console = stderr_console()
        found = f"{service.dockerfile}, port {service.port}" if service.port else service.dockerfile
        console.print(f"wrote {path} for target {chosen}" + (f" ({found})" if found else ""), markup=False)
        for name in ignores:
            console.print(f"added iterations/ to {name}", markup=False)
        for warning in ignore_warnings(path, chosen):
            console.print(f"warning: {warning}", markup=False)
        console.print("next: check the probe's paths and events in it, then run `loopctl iterate`", markup=False)
        return ExitCode.OK

    guarded(False, run, command="init")
