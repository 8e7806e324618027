"""The `docker` deploy target: run the image as a container on the local engine and wait until it listens."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from loopctl.config import DockerDeployConfig
from loopctl.errors import LoopctlError, UsageError
from loopctl.phases.base import Context, PhaseResult
from loopctl.records.sections import DeploySection, image_to_deploy
from loopctl.records.store import write_atomic
from loopctl.secrets import redact

PHASE = "deploy"
STOP_TIMEOUT_S = 5
LOG_TAIL_LINES = 50
POLL_S = 0.05
ANSWER_TIMEOUT_S = 2.0
LOOPBACK = "127.0.0.1"
FINGERPRINT_LABEL = "loopctl.fingerprint"


class DockerDeploy:
    name = PHASE

    def run(self, ctx: Context) -> PhaseResult:
        from loopctl.clients.docker_engine import docker_client

        spec = _config(ctx)
        image = image_reference(ctx)
        wanted = fingerprint(image, spec)
        reused = None if ctx.options.no_cache else find_reusable(spec, wanted)
        if reused is not None:
            ctx.log(PHASE, f"unchanged: {spec.name} ({reused.id[:12]}) already runs this image and config")
            url = f"http://{LOOPBACK}:{reused.host_port}"
            return _result(reused, spec, image, reused.image_id, url, None, reused=True)
        client = docker_client()
        image_id = ensure_image(client, image, ctx)  # before touching the old container: a bad ref must not stop it
        replaced = remove_previous(client, spec.name, ctx)
        container = start_container(client, image, spec, ctx, wanted)
        host_port = wait_until_listening(container, spec, ctx)
        url = f"http://{LOOPBACK}:{host_port}"
        ctx.log(PHASE, f"{spec.name} ({container.id[:12]}) answers on {url}")
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


def fingerprint(image: str, spec: DockerDeployConfig) -> str:
    """What makes a running container the one this deploy would start: image, command, port, env.

    Secret values enter only as their sha256, and only into a label on the local container.
    """
    env = {name: hashlib.sha256(value.encode()).hexdigest() for name, value in container_env(spec).items()}
    material = json.dumps([image, spec.command, spec.port, spec.host_port, env], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Running:
    """A container that already runs what this deploy would start."""

    id: str
    image_id: str
    host_port: int


def find_reusable(spec: DockerDeployConfig, wanted: str) -> Running | None:
    """The running container to keep, read with one plain engine call (the SDK only when that cannot be made)."""
    from urllib.parse import quote

    from loopctl.clients.docker_engine import EngineUnavailable, engine_get

    try:
        status, found = engine_get(f"/containers/{quote(spec.name, safe='')}/json")
    except EngineUnavailable:
        return _reusable_by_sdk(spec, wanted)
    # The engine also matches an id prefix by this path: the name must be the container's own.
    if status != 200 or not isinstance(found, dict) or found.get("Name") != f"/{spec.name}":
        return None
    if not (found.get("State") or {}).get("Running"):
        return None
    if ((found.get("Config") or {}).get("Labels") or {}).get(FINGERPRINT_LABEL) != wanted:
        return None
    host_port = _bound_port(found, spec.port)
    if host_port is None or not answers(host_port):
        return None
    return Running(str(found["Id"]), str(found.get("Image", "")), host_port)


def _reusable_by_sdk(spec: DockerDeployConfig, wanted: str) -> Running | None:
    from loopctl.clients.docker_engine import docker_client

    found = running_as_wanted(docker_client(), spec, wanted)
    if found is None:
        return None
    container, host_port = found
    return Running(str(container.id), str(container.image.id), host_port)


def running_as_wanted(client: Any, spec: DockerDeployConfig, wanted: str) -> tuple[Any, int] | None:
    """The running container of this name with this fingerprint, if it still answers."""
    found = [c for c in client.containers.list(filters={"name": spec.name}) if c.name == spec.name]
    if not found or found[0].labels.get(FINGERPRINT_LABEL) != wanted:
        return None
    host_port = published_port(found[0], spec.port)
    return (found[0], host_port) if host_port is not None and answers(host_port) else None


def image_reference(ctx: Context) -> str:
    """`--image`, else the digest push pinned, else the tag build made (nothing was pushed)."""
    reference = image_to_deploy(ctx.options.image, ctx.sections)
    if not reference:
        raise LoopctlError(
            "nothing to deploy: no --image, no pushed digest and no built image",
            hint="let the build phase run, or pass --image REF",
            kind="no_image",
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
        kind="image_not_found",
    )


# --- the container ------------------------------------------------------------------------------


def remove_previous(client: Any, name: str, ctx: Context) -> str | None:
    """Stop and remove the container called `name`; its short id, or None when there was none."""
    from docker.errors import NotFound

    # `containers.get` also matches id prefixes: list by name and compare exactly, so nobody else's goes.
    found = [c for c in client.containers.list(all=True, filters={"name": name}) if c.name == name]
    if not found:
        return None
    old = found[0]
    ctx.log(PHASE, f"replacing container {old.id[:12]} ({old.status})")
    try:
        if old.status in ("running", "restarting"):
            old.stop(timeout=STOP_TIMEOUT_S)
        old.remove(force=True)
    except NotFound:  # gone meanwhile: nothing left to replace
        pass
    return str(old.id[:12])


def start_container(client: Any, image: str, spec: DockerDeployConfig, ctx: Context, wanted: str) -> Any:
    """Create and start the container, published on loopback only."""
    from docker.errors import APIError

    ctx.log(PHASE, f"starting {spec.name} from {image} (env: {', '.join(env_names(spec))})")
    try:
        container = client.containers.create(
            image,
            name=spec.name,
            command=spec.command,
            environment=container_env(spec),
            ports={f"{spec.port}/tcp": (LOOPBACK, spec.host_port or None)},  # None: the engine picks a free port
            labels={
                "loopctl.project": ctx.config.project,
                "loopctl.iteration": str(ctx.number),
                FINGERPRINT_LABEL: wanted,
            },
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
    return LoopctlError(f"the engine could not start {spec.name}: {reason}", hint=hint, kind="container_start")


# --- waiting until it listens -------------------------------------------------------------------


def wait_until_listening(container: Any, spec: DockerDeployConfig, ctx: Context) -> int:
    """The published host port, once something in the container answers on it; an exit or the deadline fails."""
    began = time.monotonic()
    host_port: int | None = None
    while True:
        container.reload()
        if container.status in ("exited", "dead"):
            raise _failure(container, spec, ctx, kind="container_exited")
        host_port = host_port or published_port(container, spec.port)
        if host_port is not None and answers(host_port):
            ctx.log(PHASE, f"listening after {time.monotonic() - began:.1f}s")
            return host_port
        if time.monotonic() - began >= spec.ready_timeout:
            raise _failure(container, spec, ctx, kind="not_listening", host_port=host_port)
        time.sleep(POLL_S)


def published_port(container: Any, port: int) -> int | None:
    """The host port the engine bound for `port`/tcp (read back: 0 asked for any free one)."""
    return _bound_port(container.attrs, port)


def _bound_port(attrs: dict[str, Any], port: int) -> int | None:
    bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def answers(host_port: int) -> bool:
    """True when the container takes a connection: it answers `GET /`, or holds the socket open.

    The engine's port proxy accepts every connection itself and closes it at once when nothing in the
    container listens, so a successful connect alone proves nothing; an answer (any answer) does.
    """
    try:
        conn = socket.create_connection((LOOPBACK, host_port), timeout=ANSWER_TIMEOUT_S)
    except OSError:
        return False
    with conn:
        try:
            conn.sendall(f"GET / HTTP/1.0\r\nHost: {LOOPBACK}:{host_port}\r\n\r\n".encode())
            return bool(conn.recv(1))
        except TimeoutError:
            return True  # connected and silent: a listener that does not speak HTTP first
        except OSError:
            return False


# --- failures -----------------------------------------------------------------------------------


def _failure(
    container: Any, spec: DockerDeployConfig, ctx: Context, *, kind: str, host_port: int | None = None
) -> LoopctlError:
    """A failed deploy whose message carries the exit code (or where nothing answered) and the log's tail."""
    log = redact(_logs(container))
    log_path = ctx.store.artifact_path(ctx.number, "deploy.log")
    write_atomic(log_path, log)
    who = f"container {spec.name} ({container.id[:12]})"
    if kind == "container_exited":
        head = f"{who} exited with code {_exit_code(container)} before listening on port {spec.port}"
        hint = f"the service stopped at start: read {log_path.name} beside the record, or `docker logs {spec.name}`"
    else:
        where = f"{LOOPBACK}:{host_port}" if host_port else "its published port"
        head = f"{who} runs, but nothing answers on {where} (container port {spec.port}) after {spec.ready_timeout:g}s"
        hint = (
            f"the service must listen on 0.0.0.0:$PORT ({spec.port}) inside the container, not 127.0.0.1; "
            f"read {log_path.name}, or raise deploy.docker.ready_timeout if it starts slowly"
        )
    return LoopctlError(f"{head}; {_tail(log)}", hint=hint, kind=kind)


def _exit_code(container: Any) -> str:
    state = container.attrs.get("State") or {}
    code = str(state.get("ExitCode", "?"))
    return f"{code} (killed: out of memory)" if state.get("OOMKilled") else code


def _logs(container: Any) -> str:
    from docker.errors import APIError

    try:
        raw = container.logs(stdout=True, stderr=True)
    except APIError as err:
        return f"(the engine gave no log: {err.explanation or err})\n"
    return bytes(raw).decode("utf-8", errors="replace")


def _tail(log: str) -> str:
    lines = log.rstrip("\n").splitlines()[-LOG_TAIL_LINES:]
    if not lines:
        return "it wrote no log"
    what = "the last line of its log" if len(lines) == 1 else f"the last {len(lines)} lines of its log"
    return f"{what}:\n" + "\n".join(lines)


def _config(ctx: Context) -> DockerDeployConfig:
    deploy = ctx.config.deploy
    if deploy is None or deploy.docker is None:
        raise UsageError("no deploy.docker block in the config", hint="add one, or skip the phase")
    return deploy.docker
