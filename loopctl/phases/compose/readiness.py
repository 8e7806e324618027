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
POLL_S = 0.1  # each look is three list calls to the engine, however many services the project has


def containers_of(client: Any, project: str, service: str | None = None, **filters: str) -> list[dict[str, Any]]:
    """The project's containers (one service's, when named) as the engine lists them, by the labels Compose puts on
    each: one call, no inspection (`Id`, `State`, `Labels`, ...); `filters` narrow it (`health="starting"`)."""
    labels = [f"{PROJECT_LABEL}={project}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
    return list(client.api.containers(all=True, filters={"label": labels, **filters}))


def wait_until_ready(
    client: Any, project: str, service: str, *, port: int, timeout: float, only: bool = False, probed: bool = True
) -> tuple[Any, int | None]:
    """The service's container and its published host port, once every health check in the project (only that
    service's, with `only`) is healthy and that port answers; a container that exits with an error, turns unhealthy,
    or the deadline, fails. A service nothing probes (`probed` false) may publish no port: None.

    Each look lists the project and, by the engine's `health` filter, who is unhealthy or still starting; only the
    deployed container and those that end the wait are inspected, so a project of 100 services costs no more."""
    began, scope = time.monotonic(), service if only else None
    while True:
        found = containers_of(client, project, scope)
        down = [c for c in found if c["State"] in ("exited", "dead")]
        for gone in down + containers_of(client, project, scope, health="unhealthy"):
            _fail_if_down(client.containers.get(gone["Id"]), deployed=_service(gone) == service)
        starting = [_service(c) for c in containers_of(client, project, scope, health="starting")]
        up = next((c["Id"] for c in found if _service(c) == service and c["State"] == "running"), None)
        running = None if up is None else client.containers.get(up)
        if running is not None and running.status != "running":  # it ended between the list and its inspection
            _fail_if_down(running, deployed=True)
            running = None  # restarting: look again
        host_port = None if running is None else _published(running, service, port, required=probed)
        if running is not None and not starting and (host_port is None or answers(host_port)):
            return running, host_port
        if time.monotonic() - began >= timeout:
            raise _late(found, starting, service, port, timeout)
        time.sleep(POLL_S)


def _service(listed: dict[str, Any]) -> str:
    return str((listed.get("Labels") or {}).get(SERVICE_LABEL, "?"))


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


def _late(found: list[dict[str, Any]], starting: list[str], service: str, port: int, timeout: float) -> LoopctlError:
    if starting:
        head = f"the health checks of {', '.join(sorted(starting))} did not pass in {timeout:g}s"
    elif not any(_service(c) == service for c in found):
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
