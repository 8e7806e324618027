"""Runs a Cloud Run revision's image on the real Docker Engine and says, in Cloud Run's words, how it went."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from loopctl.phases.docker.readiness import answers
from tests.support import cloudrun_shapes as shapes
from tests.support.realparts import docker_client

LABEL = "loopctl.test.cloudrun-emulator"


@dataclass(frozen=True)
class Started:
    """The revision's container listens: reachable at 127.0.0.1:host_port."""

    host_port: int


@dataclass(frozen=True)
class Failed:
    """The revision cannot serve: the condition Cloud Run would report."""

    kind: str  # the failing condition's type
    message: str
    reason: dict[str, int]


Outcome = Started | Failed


class RevisionRuntime:
    """One container per revision, published on 127.0.0.1 only; remembers every container it started."""

    def __init__(self, *, startup_timeout_s: float) -> None:
        self.startup_timeout_s = startup_timeout_s
        self._client: Any = None
        self._revisions: list[tuple[str, Any]] = []  # (revision, container) started and not yet removed
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def start(self, revision: str, image: str, env: dict[str, str], port: int) -> Outcome:
        """Pull if needed, run, and wait until the port accepts a TCP connection or the container dies."""
        if self._client is None:
            self._client = docker_client()
        missing = self._ensure_image(image)
        if missing is not None:
            return missing
        container = self._client.containers.run(
            image,
            detach=True,
            environment={**env, "PORT": str(port)},
            ports={f"{port}/tcp": ("127.0.0.1", None)},
            labels={LABEL: revision},
        )
        with self._lock:
            self._revisions.append((revision, container))
        return self._wait_listening(container, port)

    def containers(self) -> list[tuple[str, Any]]:
        """(revision, container) for every revision still running: where its log lines come from."""
        with self._lock:
            return list(self._revisions)

    def close(self) -> None:
        """Stop and remove every container this runtime started."""
        self._closing.set()
        with self._lock:
            revisions, self._revisions = self._revisions, []
        for _, container in revisions:
            with contextlib.suppress(Exception):
                container.remove(force=True)

    def _ensure_image(self, image: str) -> Failed | None:
        import docker.errors

        try:
            self._client.images.get(image)
            return None
        except docker.errors.ImageNotFound:
            pass
        try:
            self._client.images.pull(image)
        except docker.errors.APIError as err:
            if err.status_code == 404 or "manifest unknown" in str(err) or "not found" in str(err).lower():
                message = f"Image '{image}' not found."
            else:
                message = f"Failed to pull image '{image}': {err.explanation or err}"
            return Failed("ContainerReady", message, {"reason": shapes.CONTAINER_MISSING})
        return None

    def _wait_listening(self, container: Any, port: int) -> Outcome:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline and not self._closing.is_set():
            container.reload()
            if container.status in ("exited", "dead"):
                break
            bindings = (container.ports or {}).get(f"{port}/tcp") or []
            # Only loopback is probed: the same readiness test the docker deploy target uses.
            if bindings and answers(int(bindings[0]["HostPort"])):
                return Started(int(bindings[0]["HostPort"]))
            time.sleep(0.1)
        message = shapes.PORT_MESSAGE.format(port=port)
        return Failed("ContainerHealthy", message, {"revisionReason": shapes.HEALTH_CHECK_CONTAINER_ERROR})
