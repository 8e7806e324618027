"""The local Docker Engine, found the way `docker` finds it; "not reachable" becomes one actionable error."""

from __future__ import annotations

import os
from typing import Any

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.outside_text import first_line

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
    except ValueError as err:  # the SDK decodes every stored login up front: one bad `auth` stops it
        raise LoopctlError(
            f"the docker config {_docker_config_path()} cannot be read: {type(err).__name__}",
            hint="fix or remove the broken `auth` entry (`docker logout HOST`, then `docker login HOST`)",
            kind=ErrorKind.CREDENTIALS,
        ) from None
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
    return LoopctlError(
        f"no Docker engine at {describe_engine()}{suffix}", hint=hint, kind=ErrorKind.ENGINE_UNREACHABLE
    )


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
    said = str(err).removeprefix("Error while fetching server API version: ")
    return first_line(said, 160) if said else ""


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


class EngineUnavailable(Exception):
    """The plain socket path cannot answer (not a local socket, not reachable): use the SDK, which says why."""


def engine_get(path: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One GET on the engine's API over its local socket, without the docker SDK (and requests) behind it.

    For the few reads an unchanged iteration makes: the path is unversioned, so the engine answers in its own
    current API version, with no `/version` round trip first. Raises EngineUnavailable when DOCKER_HOST or the
    Docker context points elsewhere than a unix socket, or the socket does not answer.
    """
    return engine_call("GET", path, headers=headers)


def engine_call(method: str, path: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """engine_get() for any method without a body (a tag is a bodiless POST): the status and the parsed JSON."""
    import http.client
    import json

    connection = _unix_connection(_local_socket())
    try:
        connection.request(method, path, headers={"Host": "docker", **(headers or {})})
        response = connection.getresponse()
        body = response.read()
    except OSError as err:
        raise EngineUnavailable(str(err)) from None
    except http.client.HTTPException as err:
        raise EngineUnavailable(type(err).__name__) from None
    finally:
        connection.close()
    try:
        return response.status, json.loads(body) if body else None
    except ValueError:
        return response.status, None


def _local_socket() -> str:
    host = os.environ.get("DOCKER_HOST")
    if host is None and _docker_context_set():
        raise EngineUnavailable("a Docker context is selected")
    address = host or DEFAULT_SOCKET
    if not address.startswith("unix://"):
        raise EngineUnavailable(f"{address} is not a local socket")
    return address.removeprefix("unix://")


def _docker_context_set() -> bool:
    """Whether the docker CLI config names a current context other than the default one."""
    return (docker_config() or {}).get("currentContext") not in (None, "", "default")


def docker_config_has_credentials() -> bool:
    """Whether the docker CLI config could hold registry credentials (then the SDK must read them)."""
    document = docker_config()
    if document is None:
        return True  # unreadable: let the SDK decide what it means
    return bool(document.get("auths") or document.get("credsStore") or document.get("credHelpers"))


def docker_config() -> dict[str, Any] | None:
    """The docker CLI's config.json: `{}` when there is none, None when it cannot be read or is not an object."""
    import json

    try:
        with open(_docker_config_path(), encoding="utf-8") as stream:
            document = json.load(stream)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _docker_config_path() -> str:
    return os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")


def _unix_connection(path: str) -> Any:
    """An http.client connection whose socket is the engine's unix socket."""
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT_S)
            try:
                sock.connect(path)
            except OSError:
                sock.close()
                raise
            sock.settimeout(API_TIMEOUT_S)
            self.sock = sock

    return UnixConnection("localhost", timeout=API_TIMEOUT_S)
