"""Real Docker Engine and registry processes for tests: find the engine, start throwaway registries."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

DEFAULT_SOCKET = "/var/run/docker.sock"
BASE_IMAGE = "loopctl-base:bookworm"
ENGINE_HINT = "run scripts/engine.sh up (as root it installs and starts dockerd)"
BASE_IMAGE_HINT = "run scripts/base-image.sh (builds it with debootstrap + docker import)"
REGISTRY_HINT = "run scripts/registry.sh up once (as root it installs Debian's docker-registry)"

# What `docker push` produces and what Cloud Run / the SDK may ask for; the registry answers
# HEAD with the digest of whichever of these it stored.
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
_BCRYPT_ROUNDS = 5  # the registry checks the hash on every request; test passwords need no strength
_READY_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 10.0


class RealPartError(RuntimeError):
    """A real server the tests need could not be found or started."""


# --- Docker Engine ------------------------------------------------------------------------------


def docker_host() -> str | None:
    """DOCKER_HOST if set, else the default socket when it exists, else None."""
    if env := os.environ.get("DOCKER_HOST"):
        return env
    return f"unix://{DEFAULT_SOCKET}" if os.path.exists(DEFAULT_SOCKET) else None


def engine_available(*, timeout: float = 5.0) -> bool:
    """True when the engine at docker_host() answers GET /_ping with 200."""
    host = docker_host()
    if host is None:
        return False
    try:
        if host.startswith("unix://") or (host.startswith("tcp://") and not os.environ.get("DOCKER_TLS_VERIFY")):
            return _ping_plain(host, timeout=timeout)
        return bool(docker_client(timeout=timeout).ping())
    except Exception:
        return False


def engine_missing_reason() -> str | None:
    """None when the engine answers, else one line saying what is missing and what to run."""
    if engine_available():
        return None
    where = docker_host() or f"unix://{DEFAULT_SOCKET} (no such socket)"
    return f"no Docker Engine answers at {where}: {ENGINE_HINT}"


def docker_client(*, timeout: float = 60.0) -> Any:
    """A docker.DockerClient for docker_host(); the SDK is imported only here."""
    import docker

    host = docker_host()
    if host is None:
        raise RealPartError(f"no Docker Engine socket at {DEFAULT_SOCKET} and DOCKER_HOST unset: {ENGINE_HINT}")
    return docker.DockerClient(base_url=host, version="auto", timeout=int(timeout))


def base_image_missing_reason() -> str | None:
    """None when the engine has BASE_IMAGE, else what to run."""
    if reason := engine_missing_reason():
        return reason
    import docker.errors

    try:
        docker_client().images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return f"the engine has no {BASE_IMAGE}: {BASE_IMAGE_HINT}"
    return None


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, *, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._socket_path)


def engine_with_base_image() -> Iterator[Any]:
    """A docker.DockerClient for a fixture to yield from; fails (never skips) when no engine or base image is there."""
    import pytest

    if reason := base_image_missing_reason():
        pytest.fail(reason, pytrace=False)
    client = docker_client()
    yield client
    client.close()


def throwaway_container_name(prefix: str) -> Iterator[str]:
    """A container name of the caller's own (`prefix-<random>`) for a fixture to yield from: the container of that
    name, if a test made one, is removed at the end."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    yield name
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        docker_client().containers.get(name).remove(force=True)


def labelled_project(engine: Any, prefix: str) -> Iterator[str]:
    """A project name of the caller's own (`prefix-<random>`) for a fixture to yield from: every container the
    engine labels with it is removed at the end."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    yield name
    import docker.errors

    for container in engine.containers.list(all=True, filters={"label": f"loopctl.project={name}"}):
        # A container a deploy retired is removed in the background: it may be gone by now.
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def _ping_plain(host: str, *, timeout: float) -> bool:
    conn: http.client.HTTPConnection
    if host.startswith("unix://"):
        conn = _UnixHTTPConnection(host.removeprefix("unix://"), timeout=timeout)
    else:
        conn = http.client.HTTPConnection(host.removeprefix("tcp://"), timeout=timeout)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    finally:
        conn.close()


# --- Registry -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryResponse:
    """Status and headers of one request to a registry (header names lower-cased)."""

    status: int
    headers: Mapping[str, str]


@dataclass
class RegistryHandle:
    """A docker-registry process of our own on 127.0.0.1:port; stop() and start() keep port and data."""

    port: int
    root: Path
    htpasswd: dict[str, str] | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    @property
    def credentials(self) -> tuple[str, str] | None:
        """The first htpasswd user and password, used by default for authenticated requests."""
        return next(iter(self.htpasswd.items())) if self.htpasswd else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RegistryHandle:
        """Start (again) on the same port with the same data; wait until /v2/ answers."""
        if self.running:
            return self
        binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
        if not os.access(binary, os.X_OK):
            raise RealPartError(f"docker-registry is not installed: {REGISTRY_HINT}")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [binary, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL); safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT_S)

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: tuple[str, str] | bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> RegistryResponse:
        """One HTTP request; auth=True sends self.credentials (if any), False none, a pair those."""
        sent = dict(headers or {})
        creds = self.credentials if auth is True else (auth or None)
        if creds:
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=sent)
            response = conn.getresponse()
            response.read()
            return RegistryResponse(response.status, {k.lower(): v for k, v in response.getheaders()})
        finally:
            conn.close()

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        """Docker-Content-Digest of repo:tag, or None when the registry has no such manifest."""
        response = self.request("HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
        if response.status == 404:
            return None
        if response.status != 200:
            raise RealPartError(f"HEAD /v2/{repo}/manifests/{tag} on {self.address}: HTTP {response.status}")
        return response.headers.get("docker-content-digest")

    def __enter__(self) -> RegistryHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        ready = {200, 401} if self.htpasswd else {200}
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RealPartError(f"docker-registry exited before answering on {self.address}:\n{self._log_tail()}")
            with contextlib.suppress(OSError):
                if self.request("GET", "/v2/", auth=False).status in ready:
                    return
            time.sleep(0.1)
        self.stop()
        raise RealPartError(f"docker-registry did not answer on {self.address} in {_READY_TIMEOUT_S:.0f}s")

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def start_registry(tmp_path: Path, *, htpasswd: dict[str, str] | None = None, delete: bool = True) -> RegistryHandle:
    """Start a separate docker-registry on a free 127.0.0.1 port with config and data under tmp_path.

    `delete`: the registry's `storage.delete.enabled` (off, as by default, it answers a DELETE with 405).
    """
    root = tmp_path / "registry"
    root.mkdir(parents=True, exist_ok=True)
    handle = RegistryHandle(port=free_port(), root=root, htpasswd=dict(htpasswd) if htpasswd else None)
    handle.data_dir.mkdir(exist_ok=True)
    auth = None
    if htpasswd:
        _write_htpasswd(root / "htpasswd", htpasswd)
        auth = {"htpasswd": {"realm": "loopctl-test", "path": str(root / "htpasswd")}}
    config = _registry_config(handle, auth)
    config["storage"]["delete"]["enabled"] = delete
    handle.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return handle.start()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, then close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listen_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on port, read from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(_proc_net_address(address, family))
    return found


def _proc_net_address(hex_address: str, family: int) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host (little-endian) order.
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, packed)


def _registry_config(handle: RegistryHandle, auth: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(handle.data_dir)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {"addr": handle.address, "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if auth:
        config["auth"] = auth
    return config


def _write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    import bcrypt  # the registry's htpasswd auth accepts bcrypt entries only

    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(_BCRYPT_ROUNDS)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")


def _die_with_parent() -> None:
    # A registry must not outlive a pytest that was killed (CI timeout, SIGKILL).
    # PR_SET_PDEATHSIG follows the thread that forked: start registries from the main thread.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
# Loaded here, not in the forked child, where loading a library is not safe.
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None
