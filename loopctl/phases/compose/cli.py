"""The Compose CLI: which one this machine has (the `docker compose` plugin, else `docker-compose`), and one run."""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from loopctl.errors import ErrorKind, LoopctlError, UsageError
from loopctl.outside_text import LINE_LIMIT, lines, one_line
from loopctl.records.store import write_atomic

CHECK_TIMEOUT_S = 60.0  # reading and validating the file
UP_TIMEOUT_S = 900.0  # `up` builds the file's own `build:` services and pulls images: minutes, not hours


@functools.cache
def compose_command() -> tuple[str, ...]:
    """`docker compose` where the plugin answers, else `docker-compose`; asked once per process."""
    docker = shutil.which("docker")
    if docker is not None:
        try:
            found = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=CHECK_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            found = None
        if found is not None and found.returncode == 0:
            return (docker, "compose")
    standalone = shutil.which("docker-compose")
    if standalone is None:
        raise LoopctlError(
            "no Compose CLI: neither the `docker compose` plugin nor `docker-compose` is installed",
            hint="install one (Debian: apt-get install docker-compose), or deploy with target: docker",
        )
    return (standalone,)


def compose_name() -> str:
    """The Compose CLI as a user types it: `docker compose` or `docker-compose`."""
    return " ".join(Path(part).name for part in compose_command())


@dataclass(frozen=True)
class ComposeFiles:
    """One Compose project: its name, the user's file and, once written, loopctl's override."""

    project: str
    file: Path
    override: Path | None = None

    def args(self) -> list[str]:
        files = [self.file] if self.override is None else [self.file, self.override]
        return ["--ansi", "never", "-p", self.project, *(arg for path in files for arg in ("-f", str(path)))]


def services_in(files: ComposeFiles) -> list[str]:
    """The services the user's file defines, as Compose reads it; a file it cannot read is a usage error (exit 2)."""
    if not files.file.is_file():
        raise UsageError(f"deploy.compose.file: {files.file} does not exist", hint="point it at your Compose file")
    done = _run(files, ["config", "--services"], CHECK_TIMEOUT_S)
    if done.returncode != 0:
        raise UsageError(
            f"Compose cannot read {files.file.name}: {said(done.stderr)}",
            hint=f"fix the file (`{compose_name()} -f {files.file.name} config` shows the same)",
        )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def up(files: ComposeFiles, services: list[str], log: Path) -> None:
    """`up -d` (only `services`, without their dependencies, when given); what Compose wrote is kept in `log`."""
    # The project is loopctl's (`loopctl-PROJECT`): a container of a service the file no longer has goes.
    only = ["--no-deps", "--", *services] if services else []  # `--`: a service may be named `-x`
    done = _run(files, ["up", "-d", "--remove-orphans", *only], UP_TIMEOUT_S)
    # Before failing, `up` writes its progress (pulling, building, warnings): the last two lines say what it was
    # doing and why it stopped.
    write_atomic(log, lines(done.stdout + done.stderr))
    if done.returncode != 0:
        raise LoopctlError(
            f"Compose could not start the project {files.project}: {said(done.stderr, last=2)}",
            hint=f"read {log.name} beside the record; `{compose_name()} -p {files.project} ps` shows it",
            kind=ErrorKind.CONTAINER_START,
        )


def said(stderr: str, *, last: int | None = None) -> str:
    """Compose's own message: its `last` lines (all when None), as one redacted, clipped line. With `--ansi never`
    Compose logs through a plain formatter: no line carries a level (`ERROR: `) to pick errors by."""
    written = [line.strip() for line in stderr.splitlines() if line.strip()]
    return one_line(" ".join(written[-(last or len(written)) :]) or "it gave no reason", LINE_LIMIT)


def _run(files: ComposeFiles, command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    argv = [*compose_command(), *files.args(), *command]
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            cwd=files.file.parent,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise LoopctlError(
            f"Compose did not finish `{command[0]}` in {timeout:g}s",
            hint=f"`{compose_name()} -p {files.project} ps` shows where it stands",
            kind=ErrorKind.DEPLOY_TIMEOUT,
        ) from None
    except OSError as err:
        raise LoopctlError(f"the Compose CLI could not be run: {err}", hint="reinstall it") from None
