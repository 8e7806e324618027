"""The `compose` deploy target: pin loopctl's image in an override file, `up -d` the user's Compose file, wait."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from loopctl.config.model import ComposeDeployConfig
from loopctl.errors import ErrorKind, LoopctlError, UsageError
from loopctl.outside_text import one_line
from loopctl.phases.base import Context, PhaseResult
from loopctl.phases.compose.cli import ComposeFiles, compose_name, services_in, up
from loopctl.phases.compose.readiness import containers_of, wait_until_ready
from loopctl.phases.docker.deploy import ensure_image
from loopctl.phases.docker.readiness import LOOPBACK, PHASE
from loopctl.records.sections import DeploySection, image_to_deploy
from loopctl.records.store import write_atomic


class ComposeDeploy:
    name = PHASE

    def run(self, ctx: Context) -> PhaseResult:
        from loopctl.clients.docker_engine import docker_client

        spec = compose_spec(ctx)
        service = spec.service_for(ctx.service or ctx.config.project)
        files = ComposeFiles(project_name(ctx.config.project), ctx.config.path(spec.file))
        _require(service, services_in(files), files.file)
        client = docker_client()
        image, image_id, files = _pin(ctx, client, files, service)
        before = {listed["Id"] for listed in containers_of(client, files.project, service)}
        ctx.log(PHASE, f"{compose_name()} up -d: project {files.project}")
        # One of several loopctl services starts alone: loopctl has already started those it depends on.
        up(files, [service] if ctx.service else [], ctx.artifact("compose.log"))
        container, host_port = wait_until_ready(
            client,
            files.project,
            service,
            port=spec.port,
            timeout=spec.ready_timeout,
            only=ctx.service is not None,
            probed=bool(ctx.config.probe.checks or ctx.config.suites),
        )
        url = None if host_port is None else f"http://{LOOPBACK}:{host_port}"
        ctx.log(PHASE, f"{service} ({container.id[:12]}) {f'answers on {url}' if url else 'runs, publishing no port'}")
        section = DeploySection(
            target="compose",
            service=service,
            revision=container.id[:12],
            container_id=container.id,
            image=image or str((container.attrs.get("Config") or {}).get("Image", "")),
            image_id=image_id or str(container.attrs.get("Image", "")),
            url=url,
            reused=container.id in before,
            compose_project=files.project,
        )
        return PhaseResult("ok", {"container": container.id[:12], "url": url}, section=section)


def _pin(ctx: Context, client: Any, files: ComposeFiles, service: str) -> tuple[str | None, str | None, ComposeFiles]:
    """The image loopctl deploys for `service` (None: it built none), its local id, and the files with the
    override that pins it."""
    image = image_to_deploy(ctx.options.image, ctx.sections)
    if not image and ctx.config.build is not None:
        # Left out, the override would leave the placeholder of the Compose file in place of what loopctl builds.
        raise LoopctlError(
            f"nothing to deploy for compose service {service}: no --image, no pushed digest and no built image",
            hint="let the build phase run, or pass --image REF",
            kind=ErrorKind.NO_IMAGE,
        )
    if not image:
        return None, None, files  # a service loopctl does not build: the Compose file's own image or build
    # Compose would build a `build:` service whose image it lacks, under the pinned name: have it here first.
    image_id = ensure_image(client, image, ctx)
    override = write_override(ctx.artifact("compose-override.yml"), service, image)
    return image, image_id, replace(files, override=override)


def compose_spec(ctx: Context) -> ComposeDeployConfig:
    """The deploy.compose block; every key has a default, so the block may be left out."""
    deploy = ctx.config.deploy
    if deploy is None:
        raise UsageError("no deploy block in the config", hint="add deploy: {target: compose}, or skip the phase")
    return deploy.compose or ComposeDeployConfig()


def project_name(project: str) -> str:
    """`loopctl-PROJECT` in the characters Compose allows in a project name (lowercase, digits, '-', '_')."""
    return "loopctl-" + (re.sub(r"[^a-z0-9_-]+", "-", project.lower()).strip("-_") or "project")


def write_override(path: Path, service: str, image: str) -> Path:
    """The override file that pins `service` to `image`; JSON strings are YAML's double-quoted scalars."""
    text = (
        "# Written by loopctl for this iteration: the image it built and pushed, pinned.\n"
        f"services:\n  {json.dumps(service)}:\n    image: {json.dumps(image)}\n"
    )
    write_atomic(path, text)
    return path


def _require(service: str, defined: list[str], file: Path) -> None:
    if service not in defined:
        has = one_line(", ".join(defined)) or "none"
        raise UsageError(
            f"deploy.compose.service: {file.name} has no service {service!r} (it has: {has})",
            hint="name the compose service loopctl builds and probes in deploy.compose.service",
        )
