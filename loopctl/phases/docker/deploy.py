"""The `docker` deploy target: run the image as a container on the local engine and wait until it listens."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from loopctl.config import DockerDeployConfig
from loopctl.config.services import fill_refs
from loopctl.errors import ErrorKind, LoopctlError, UsageError
from loopctl.phases.base import Context, PhaseResult
from loopctl.phases.docker.readiness import (
    LOOPBACK,
    PHASE,
    answering_port,
    answers,
    bound_port,
    wait_until_listening,
)
from loopctl.phases.docker.retire import retire, retired_name
from loopctl.records.sections import DeploySection, image_to_deploy

# The old container is stopped only once its successor answers (in the background, beside the probe), or first
# to free a fixed host port: SIGTERM, then a short grace, as `docker stop -t` would give it.
STOP_TIMEOUT_S = 3
FINGERPRINT_LABEL = "loopctl.fingerprint"
SERVICE_LABEL = "loopctl.service"  # the container's name (its service, for one service)
PART_LABEL = "loopctl.part"  # in a project of several services: which one it is
SUCCESSOR = "-next-"  # `NAME-next-<random>`: the new container until it answers and takes NAME


class DockerDeploy:
    name = PHASE

    def run(self, ctx: Context) -> PhaseResult:
        from loopctl.clients.docker_engine import docker_client

        spec = _config(ctx)
        image = image_reference(ctx)
        wanted = fingerprint(image, spec, network=project_network(ctx))
        if ctx.service is not None:  # its dependents reach it by its name on the project network, not on loopback
            ctx.share(f"http://{ctx.service}:{spec.port}", ctx.service)
        reused = None if ctx.options.no_cache else find_reusable(spec, wanted)
        if reused is not None:
            ctx.log(PHASE, f"unchanged: {spec.name} ({reused.id[:12]}) already runs this image and config")
            url = f"http://{LOOPBACK}:{reused.host_port}"
            return _result(reused, spec, image, reused.image_id, url, None, reused=True)
        client = docker_client()
        image_id = ensure_image(client, image, ctx)  # before touching the old container: a bad ref must not stop it
        previous = serving_container(client, spec.name, ctx)
        container, host_port = replace(client, previous, image, spec, ctx, wanted)
        url = f"http://{LOOPBACK}:{host_port}"
        ctx.log(PHASE, f"{spec.name} ({container.id[:12]}) answers on {url}")
        replaced = previous.id[:12] if previous is not None else None
        return _result(container, spec, image, image_id, url, replaced, reused=False)


def _result(
    container: Any, spec: DockerDeployConfig, image: str, image_id: str, url: str, replaced: str | None, *, reused: bool
) -> PhaseResult:
    section = DeploySection(
        target="docker",
        service=spec.name,
        revision=container.id[:12],
        container_id=container.id,
        image=image,
        image_id=image_id,
        url=url,
        replaced=replaced,
        reused=reused,
        env=env_names(spec),
    )
    return PhaseResult("ok", {"container": container.id[:12], "url": url}, section=section)


def fingerprint(image: str, spec: DockerDeployConfig, *, network: str | None = None) -> str:
    """What makes a running container the one this deploy would start: image, command, port, env (and the
    project network, for one of several services).

    Secret values enter only as their sha256, and only into a label on the local container.
    """
    env = {name: hashlib.sha256(value.encode()).hexdigest() for name, value in container_env(spec).items()}
    parts: list[Any] = [image, spec.command, spec.port, spec.host_port, env]
    material = json.dumps(parts if network is None else [*parts, network], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Running:
    """A container that already runs what this deploy would start."""

    id: str
    image_id: str
    host_port: int


def find_reusable(spec: DockerDeployConfig, wanted: str) -> Running | None:
    """The running container to keep: its name, state, fingerprint and port read from one inspection."""
    found = _inspect(spec.name)
    # The engine also matches an id prefix by this path: the name must be the container's own.
    if not isinstance(found, dict) or found.get("Name") != f"/{spec.name}":
        return None
    if not (found.get("State") or {}).get("Running"):
        return None
    if ((found.get("Config") or {}).get("Labels") or {}).get(FINGERPRINT_LABEL) != wanted:
        return None
    host_port = bound_port(found, spec.port)
    if host_port is None or not answers(host_port):
        return None
    return Running(str(found["Id"]), str(found.get("Image", "")), host_port)


def _inspect(name: str) -> Any:
    """`GET /containers/NAME/json` with one plain engine call; the SDK makes it when that cannot be made (an engine
    that is not a local socket). None when there is no such container."""
    from urllib.parse import quote

    from loopctl.clients.docker_engine import EngineUnavailable, api_client, engine_get

    try:
        status, found = engine_get(f"/containers/{quote(name, safe='')}/json")
    except EngineUnavailable:
        from docker.errors import NotFound  # the SDK only on this path: an unchanged iteration never loads it

        try:
            return api_client().inspect_container(name)
        except NotFound:
            return None
    return found if status == 200 else None


def image_reference(ctx: Context) -> str:
    """`--image`, else the digest push pinned, else the tag build made (nothing was pushed), else the image the
    config names for a service loopctl does not build (`deploy.docker.image`)."""
    reference = image_to_deploy(ctx.options.image, ctx.sections) or _config(ctx).image
    if not reference:
        raise LoopctlError(
            "nothing to deploy: no --image, no pushed digest and no built image",
            hint="let the build phase run, or pass --image REF",
            kind=ErrorKind.NO_IMAGE,
        )
    return str(reference)


def env_names(spec: DockerDeployConfig) -> list[str]:
    """The names the container's environment sets; the values never leave memory."""
    return sorted({"PORT", *spec.env})


def container_env(spec: DockerDeployConfig) -> dict[str, str]:
    """PORT plus the config's env, secret references read now."""
    env = {name: value if isinstance(value, str) else value.resolve().reveal() for name, value in spec.env.items()}
    return {**env, "PORT": str(spec.port)}


# --- the image ----------------------------------------------------------------------------------


def ensure_image(client: Any, image: str, ctx: Context) -> str:
    """The local image id of `image`, pulled first when the engine does not have it."""
    from docker.errors import APIError, ImageNotFound

    try:
        return str(client.images.get(image).id)
    except ImageNotFound:
        pass
    except APIError as err:  # e.g. an invalid reference format
        raise _image_error(image, err.explanation or str(err)) from None
    pull(client.api, image, ctx)
    return str(client.images.get(image).id)


def pull(api: Any, image: str, ctx: Context) -> None:
    """Pull `image` with the registry credentials `push.auth` names; any failure is `image_not_found`."""
    from docker.errors import APIError
    from docker.utils import parse_repository_tag

    from loopctl.phases.docker.registry import auth_config

    repository, tag = parse_repository_tag(image)
    ctx.log(PHASE, f"pulling {image}")
    try:
        stream = api.pull(repository, tag=tag or "latest", stream=True, decode=True, auth_config=auth_config(ctx))
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                raise _image_error(image, (chunk.get("errorDetail") or {}).get("message") or chunk.get("error"))
            if chunk.get("status") and not chunk.get("progressDetail"):  # progress bars would flood the view
                ctx.log(PHASE, f"{chunk.get('id', '')} {chunk['status']}".strip())
    except APIError as err:
        raise _image_error(image, err.explanation or str(err)) from None


def _image_error(image: str, reason: str | None) -> LoopctlError:
    return LoopctlError(
        f"image {image} is not on this engine and cannot be pulled: {reason or 'no reason given'}",
        hint="check the reference (or let build run), start its registry, or log in to it (docker login)",
        kind=ErrorKind.IMAGE_NOT_FOUND,
    )


# --- the container ------------------------------------------------------------------------------


def serving_container(client: Any, name: str, ctx: Context) -> Any | None:
    """The running container called `name` (kept until its successor answers); a stopped one is removed now."""
    from docker.errors import NotFound

    # `containers.get` also matches id prefixes: list by name and compare exactly, so nobody else's goes.
    for found in client.containers.list(all=True, filters={"name": name}):
        ours = found.name.startswith(f"{name}{SUCCESSOR}") or retired_name(found.name, name)
        # A successor or retired one is this service's only if labelled so: `api-next-1` may be a service of its own.
        if found.name != name and not (ours and found.labels.get(SERVICE_LABEL) == name):
            continue
        if found.name == name and found.status in ("running", "restarting"):
            return found
        # An earlier run's leftover: a stopped container of this name, a successor that never answered, or a
        # retired one whose removal did not finish.
        with contextlib.suppress(NotFound):
            found.remove(force=True)
    return None


def replace(
    client: Any, previous: Any | None, image: str, spec: DockerDeployConfig, ctx: Context, wanted: str
) -> tuple[Any, int]:
    """Start the new container beside the one serving, and retire that one only once the new one answers.

    A fixed host port cannot be held by both: the previous container is stopped (kept) and started again
    when its successor never answers.
    """
    if previous is None:
        container = start_container(client, image, spec, ctx, wanted, name=spec.name)
        return container, wait_until_listening(container, spec, ctx)
    shares_port = bool(spec.host_port)
    if shares_port:
        ctx.log(
            PHASE, f"stopping {previous.id[:12]} to free 127.0.0.1:{spec.host_port}; kept until {spec.name} answers"
        )
        _stop(previous)
    try:
        successor = f"{spec.name}{SUCCESSOR}{secrets.token_hex(3)}"  # beside the serving one, whatever else exists
        container = start_container(client, image, spec, ctx, wanted, name=successor)
        host_port = wait_until_listening(container, spec, ctx, discard=True)
    except LoopctlError as err:
        raise _kept(err, previous, spec, ctx, restart=shares_port) from None
    ctx.log(PHASE, f"replacing container {previous.id[:12]}")
    leave_network(client, previous, project_network(ctx))
    retire(previous, spec.name, stop_timeout=STOP_TIMEOUT_S)
    container.rename(spec.name)
    return container, host_port


def _kept(err: LoopctlError, previous: Any, spec: DockerDeployConfig, ctx: Context, *, restart: bool) -> LoopctlError:
    """The deploy's failure, saying that the previous container still serves (started again if it was stopped)."""
    from docker.errors import APIError

    iteration = previous.labels.get("loopctl.iteration")
    who = f"the previous container {spec.name} ({previous.id[:12]}{f', iteration {iteration}' if iteration else ''})"
    try:
        if restart:
            previous.start()
        host_port = answering_port(previous, spec)
    except APIError as again:
        host_port, note = None, f"{who} could not be started again: {again.explanation or again}"
    else:
        note = f"{who} no longer answers" if not restart else f"{who} was started again but does not answer"
    if host_port is not None:
        done = "was started again and serves" if restart else "still serves"
        note = f"{who} {done} on http://{LOOPBACK}:{host_port}"
    ctx.log(PHASE, note)
    head, sep, tail = err.message.partition("; ")
    return LoopctlError(f"{head}; {note}{sep}{tail}", hint=err.hint, kind=err.kind)


def _stop(container: Any) -> None:
    from docker.errors import NotFound

    with contextlib.suppress(NotFound):
        container.stop(timeout=STOP_TIMEOUT_S)


def start_container(client: Any, image: str, spec: DockerDeployConfig, ctx: Context, wanted: str, *, name: str) -> Any:
    """Create and start the container, published on loopback only."""
    from docker.errors import APIError

    ctx.log(PHASE, f"starting {name} from {image} (env: {', '.join(env_names(spec))})")
    network = project_network(ctx)
    joined: dict[str, Any] = {}
    if network is not None and ctx.service is not None:
        ensure_network(client, network, ctx.config.project)
        # Reachable as its service's name by the other services of the project, whatever its container is called.
        endpoint = client.api.create_endpoint_config(aliases=[ctx.service])
        joined = {"network": network, "networking_config": {network: endpoint}}
    try:
        container = client.containers.create(
            image,
            name=name,
            command=spec.command,
            environment=container_env(spec),
            ports={f"{spec.port}/tcp": (LOOPBACK, spec.host_port or None)},  # None: the engine picks a free port
            labels={
                "loopctl.project": ctx.config.project,
                SERVICE_LABEL: spec.name,
                "loopctl.iteration": str(ctx.number),
                FINGERPRINT_LABEL: wanted,
                **({PART_LABEL: ctx.service} if ctx.service else {}),
            },
            **joined,
        )
        container.start()
    except APIError as err:
        raise _start_error(spec, err.explanation or str(err)) from None
    return container


def _start_error(spec: DockerDeployConfig, reason: str) -> LoopctlError:
    lowered = reason.lower()
    if "port is already allocated" in lowered or "address already in use" in lowered:
        hint = f"free 127.0.0.1:{spec.host_port}, or set deploy.docker.host_port: 0 (any free port)"
    elif "executable file not found" in lowered or "no such file or directory" in lowered:
        hint = "the command does not exist in the image: check deploy.docker.command or the image's CMD"
    else:
        hint = "read the engine's message; `docker ps -a` shows the container"
    return LoopctlError(f"the engine could not start {spec.name}: {reason}", hint=hint, kind=ErrorKind.CONTAINER_START)


def _config(ctx: Context) -> DockerDeployConfig:
    """The deploy.docker block, `{services.NAME.host}` and `.url` in its env filled from the services before it."""
    deploy = ctx.config.deploy
    if deploy is None or deploy.docker is None:
        raise UsageError("no deploy.docker block in the config", hint="add one, or skip the phase")
    spec = deploy.docker
    if not ctx.peers:
        return spec
    env = {name: fill_refs(value, ctx.peers) if isinstance(value, str) else value for name, value in spec.env.items()}
    return spec.model_copy(update={"env": env})


def project_network(ctx: Context) -> str | None:
    """`loopctl-PROJECT`, the network every service of a project of several joins; None for one service."""
    if ctx.service is None:
        return None
    return "loopctl-" + re.sub(r"[^a-zA-Z0-9_.-]+", "-", ctx.config.project).strip("-_.")


def leave_network(client: Any, container: Any, network: str | None) -> None:
    """The replaced container leaves the project network before it is retired: while it stops (seconds, for a
    process that ignores SIGTERM) its service's name must lead only to its successor."""
    from docker.errors import APIError

    if network is None:
        return
    with contextlib.suppress(APIError):
        client.api.disconnect_container_from_network(container.id, network, force=True)


def ensure_network(client: Any, network: str, project: str) -> None:
    """The project's network, made (labelled as the project's, so `clean` finds it) when it is not there."""
    from docker.errors import APIError

    # The engine's name filter matches parts of names too (`loopctl-shop` finds `loopctl-shop-2`): compare exactly.
    if any(found.name == network for found in client.networks.list(names=[network])):
        return
    try:
        client.networks.create(network, driver="bridge", labels={"loopctl.project": project})
    except APIError as err:
        if err.status_code != 409:  # made meanwhile by another run: fine
            raise LoopctlError(
                f"the engine could not create the network {network}: {err.explanation or err}",
                hint="`docker network ls` shows the networks; remove a stale one of that name",
                kind=ErrorKind.CONTAINER_START,
            ) from None
