"""Waiting until a deployed container answers, and the failure that says why it did not."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from loopctl.config import DockerDeployConfig
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.base import Context
from loopctl.phases.docker.listeners import Mismatch
from loopctl.records.store import write_atomic
from loopctl.secrets import redact

PHASE = "deploy"
LOG_TAIL_LINES = 50
POLL_S = 0.05
ANSWER_TIMEOUT_S = 2.0
LOOPBACK = "127.0.0.1"


def answering_port(container: Any, spec: DockerDeployConfig) -> int | None:
    """The published host port once the container answers on it; None when it exits or the deadline passes."""
    began = time.monotonic()
    while time.monotonic() - began < spec.ready_timeout:
        container.reload()
        if container.status in ("exited", "dead"):
            return None
        host_port = published_port(container, spec.port)
        if host_port is not None and answers(host_port):
            return host_port
        time.sleep(POLL_S)
    return None


def wait_until_listening(container: Any, spec: DockerDeployConfig, ctx: Context, *, discard: bool = False) -> int:
    """The published host port, once something in the container answers on it; an exit or the deadline fails.

    `discard`: a container that fails is removed once its log is saved (a successor that must not linger).
    """
    from loopctl.phases.docker.listeners import PortWatch

    began = time.monotonic()
    host_port: int | None = None
    watch = PortWatch(container, spec.port)
    while True:
        container.reload()
        if container.status in ("exited", "dead"):
            raise _failure(container, spec, ctx, kind=ErrorKind.CONTAINER_EXITED, discard=discard)
        host_port = host_port or published_port(container, spec.port)
        if host_port is not None and answers(host_port):
            ctx.log(PHASE, f"listening after {time.monotonic() - began:.1f}s")
            return host_port
        if (elsewhere := watch.look()) is not None:  # no use waiting out the deadline
            raise _failure(container, spec, ctx, kind=ErrorKind.WRONG_PORT, elsewhere=elsewhere, discard=discard)
        if time.monotonic() - began >= spec.ready_timeout:
            raise _failure(container, spec, ctx, kind=ErrorKind.NOT_LISTENING, host_port=host_port, discard=discard)
        time.sleep(POLL_S)


def published_port(container: Any, port: int) -> int | None:
    """The host port the engine bound for `port`/tcp (read back: 0 asked for any free one)."""
    return bound_port(container.attrs, port)


def bound_port(attrs: dict[str, Any], port: int) -> int | None:
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
    container: Any,
    spec: DockerDeployConfig,
    ctx: Context,
    *,
    kind: ErrorKind,
    host_port: int | None = None,
    elsewhere: Mismatch | None = None,
    discard: bool = False,
) -> LoopctlError:
    """A failed deploy whose message carries the exit code (or where nothing answered) and the log's tail."""
    log = redact(_logs(container))
    log_path = ctx.artifact("deploy.log")
    write_atomic(log_path, log)
    if discard:
        _remove(container)
    who = f"container {spec.name} ({container.id[:12]})"
    if kind == ErrorKind.CONTAINER_EXITED:
        head = f"{who} exited with code {_exit_code(container)} before listening on port {spec.port}"
        also = "" if discard else f", or `docker logs {container.name}`"
        hint = f"the service stopped at start: read {log_path.name} beside the record{also}"
    elif elsewhere is not None:
        head, hint = f"{who} does not answer on container port {spec.port}: {elsewhere.message}", elsewhere.hint
    else:
        where = f"{LOOPBACK}:{host_port}" if host_port else "its published port"
        head = f"{who} runs, but nothing answers on {where} (container port {spec.port}) after {spec.ready_timeout:g}s"
        hint = (
            f"the service must listen on 0.0.0.0:$PORT ({spec.port}) inside the container, not 127.0.0.1; "
            f"read {log_path.name}, or raise deploy.docker.ready_timeout if it starts slowly"
        )
    return LoopctlError(f"{head}; {_tail(log)}", hint=hint, kind=kind)


def _remove(container: Any) -> None:
    from docker.errors import APIError

    with contextlib.suppress(APIError):  # gone meanwhile, or the engine refused: the next deploy removes it
        container.remove(force=True)


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
