"""Waiting until a Compose project is up: every health check it declares healthy, the probed port answering."""

from __future__ import annotations

import time
from typing import Any

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.outside_text import last_lines, one_line
from loopctl.phases.docker.readiness import answers, bound_port

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
LOG_TAIL_LINES = 20
POLL_S = 0.1  # each look inspects every container of the project


def containers_of(client: Any, project: str, service: str | None = None) -> list[Any]:
    """The project's containers (one service's, when named), by the labels Compose puts on each."""
    labels = [f"{PROJECT_LABEL}={project}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
    return list(client.containers.list(all=True, filters={"label": labels}))


def wait_until_ready(
    client: Any, project: str, service: str, *, port: int, timeout: float, only: bool = False, probed: bool = True
) -> tuple[Any, int | None]:
    """The service's container and its published host port, once every health check in the project (only that
    service's, with `only`) is healthy and that port answers; a container that exits with an error, turns unhealthy,
    or the deadline, fails. A service nothing probes (`probed` false) may publish no port: None."""
    began = time.monotonic()
    while True:
        found = containers_of(client, project, service if only else None)
        for container in found:
            _fail_if_down(container, deployed=container.labels.get(SERVICE_LABEL) == service)
        running = next((c for c in found if c.labels.get(SERVICE_LABEL) == service and c.status == "running"), None)
        host_port = None if running is None else _published(running, service, port, required=probed)
        healthy = all(_health(container) in (None, "healthy") for container in found)
        if running is not None and healthy and (host_port is None or answers(host_port)):
            return running, host_port
        if time.monotonic() - began >= timeout:
            raise _late(found, service, port, timeout)
        time.sleep(POLL_S)


def _published(container: Any, service: str, port: int, *, required: bool) -> int | None:
    host_port = bound_port(container.attrs, port)
    if host_port is None and required:
        raise _unpublished(service, port)
    return host_port


def _health(container: Any) -> str | None:
    """`starting`, `healthy` or `unhealthy`; None when the service declares no health check."""
    health = (container.attrs.get("State") or {}).get("Health")
    return str(health.get("Status")) if isinstance(health, dict) else None


def _fail_if_down(container: Any, *, deployed: bool) -> None:
    """A container that exited (the deployed service's at all, another's with an error: a one-off task exits 0), or
    a failing health check, ends the wait at once."""
    state = container.attrs.get("State") or {}
    who = f"compose service {container.labels.get(SERVICE_LABEL, '?')} ({container.id[:12]})"
    if container.status in ("exited", "dead") and (deployed or state.get("ExitCode", 0) != 0):
        head, kind = f"{who} exited with code {state.get('ExitCode')}", ErrorKind.CONTAINER_EXITED
    elif _health(container) == "unhealthy":
        head, kind = f"{who} is unhealthy; its health check said: {_probe_said(state)}", ErrorKind.NOT_LISTENING
    else:
        return
    hint = f"read its log (`docker logs {container.name}`) and `docker inspect {container.name}`"
    raise LoopctlError(f"{head}; {_tail(container)}", hint=hint, kind=kind)


def _probe_said(state: dict[str, Any]) -> str:
    """The last health check's output, as the engine keeps it (State.Health.Log[].Output): one clean line."""
    runs = (state.get("Health") or {}).get("Log") or []
    output = str(runs[-1].get("Output") or "") if runs else ""
    return one_line(output) or f"nothing (exit code {runs[-1].get('ExitCode') if runs else '?'})"


def _unpublished(service: str, port: int) -> LoopctlError:
    return LoopctlError(
        f"compose service {service} publishes no host port for container port {port}: loopctl cannot reach it",
        hint=f'add `ports: ["127.0.0.1::{port}"]` to {service} in the Compose file, or set deploy.compose.port',
        kind=ErrorKind.WRONG_PORT,
    )


def _late(found: list[Any], service: str, port: int, timeout: float) -> LoopctlError:
    waiting = [c.labels.get(SERVICE_LABEL, "?") for c in found if _health(c) == "starting"]
    if waiting:
        head = f"the health checks of {', '.join(sorted(waiting))} did not pass in {timeout:g}s"
    elif not any(c.labels.get(SERVICE_LABEL) == service for c in found):
        head = f"compose service {service} has no container in the project after {timeout:g}s"
    else:
        head = f"nothing answers on compose service {service}'s port {port} after {timeout:g}s"
    return LoopctlError(
        head,
        hint="the service must listen on 0.0.0.0 inside its container; raise deploy.compose.ready_timeout if it "
        "starts slowly",
        kind=ErrorKind.NOT_LISTENING,
    )


def _tail(container: Any) -> str:
    from docker.errors import APIError

    try:
        log = bytes(container.logs(stdout=True, stderr=True, tail=LOG_TAIL_LINES)).decode("utf-8", errors="replace")
    except APIError as err:
        return f"the engine gave no log: {err.explanation or err}"
    tail = last_lines(log, LOG_TAIL_LINES)
    return "its last lines:\n" + "\n".join(tail) if tail else "it wrote no log"
