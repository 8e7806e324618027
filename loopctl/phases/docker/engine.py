"""The local Docker Engine, found the way `docker` finds it; "not reachable" becomes one actionable error."""

from __future__ import annotations

import os
from typing import Any

from loopctl.errors import LoopctlError

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# Finding out whether anyone answers should be quick; a build step or a pull may then stay silent longer.
CONNECT_TIMEOUT_S = 10
API_TIMEOUT_S = 120
ENGINE_HINT = "start Docker (Debian: `scripts/engine.sh up`, or `sudo systemctl start docker`), or set DOCKER_HOST"
PERMISSION_HINT = "add your user to the `docker` group (then log in again), run as root, or set DOCKER_HOST"


_clients: dict[str | None, Any] = {}


def docker_client() -> Any:
    """A `docker.DockerClient` for DOCKER_HOST (or the current Docker context), known to answer.

    One per engine address and process: build, push and deploy each ask for it, and making one costs a
    version round trip to the engine. A failure is not remembered, so the next call tries again.
    """
    import docker
    import requests

    address = os.environ.get("DOCKER_HOST")
    if address in _clients:
        return _clients[address]
    try:
        client = docker.from_env(timeout=CONNECT_TIMEOUT_S)  # asks the engine's API version: a real round trip
    except (docker.errors.DockerException, requests.exceptions.ConnectionError, FileNotFoundError) as err:
        raise unreachable(err) from None
    client.api.timeout = API_TIMEOUT_S
    _clients[address] = client
    return client


def api_client() -> Any:
    """The low-level `docker.APIClient` of `docker_client()`."""
    return docker_client().api


def describe_engine() -> str:
    """Where the engine is looked for: DOCKER_HOST, else the Docker context's host, else the default socket."""
    if host := os.environ.get("DOCKER_HOST"):
        return host
    try:
        from docker.context import ContextAPI

        return str(ContextAPI.kwargs_from_context().get("base_url") or DEFAULT_SOCKET)
    except Exception:  # a broken ~/.docker config must not hide the real problem
        return DEFAULT_SOCKET


def unreachable(err: BaseException) -> LoopctlError:
    """The error for an engine that does not answer, with the reason found in the exception chain."""
    reason = _reason(err)
    hint = PERMISSION_HINT if reason == "permission denied" else ENGINE_HINT
    suffix = f" ({reason})" if reason else ""
    return LoopctlError(f"no Docker engine at {describe_engine()}{suffix}", hint=hint, kind="engine_unreachable")


def _reason(err: BaseException) -> str:
    text = ""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, PermissionError):
            return "permission denied"
        if isinstance(seen, FileNotFoundError):
            return "no such socket"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        text += f" {seen}"
        seen = seen.__cause__ or seen.__context__
    lowered = text.lower()
    for needle, reason in _REASONS:
        if needle in lowered:
            return reason
    # Something answered, but not as an engine would (a proxy's 404, a wrong port): show what it said.
    return str(err).removeprefix("Error while fetching server API version: ").splitlines()[0][:160] if str(err) else ""


# The SDK wraps the OS error in requests' and urllib3's; their texts still carry the cause.
_REASONS = (
    ("permission denied", "permission denied"),
    ("no such file or directory", "no such socket"),
    ("connection refused", "connection refused"),
    ("timed out", f"no answer in {CONNECT_TIMEOUT_S}s"),
    ("network is unreachable", "network unreachable"),
    ("name or service not known", "unknown host"),
    ("tls", "TLS error"),
)
