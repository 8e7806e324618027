"""A throwaway copy of the sample service with its own registry, config, container names and iterations folder."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from timing import LOOPCTL, REPO, checked, say, timed

sys.path.insert(0, str(REPO))  # tests.support.realparts: the same registry and engine helpers the tests use

from tests.support.realparts import (
    RegistryHandle,
    base_image_missing_reason,
    docker_client,
    free_port,
    start_registry,
)

SERVICE = REPO / "examples" / "agent-service"
TOUCHED = Path("agent_service") / "conversation.py"
SECRET_ENV = "DEMO_JWT_SECRET"
GIT = ["git", "-c", "user.name=loopctl-bench", "-c", "user.email=bench@127.0.0.1"]


class Sandbox:
    """Everything one benchmark run touches, removed again by close(): temp folder, registry, containers, images."""

    def __init__(self, label: str) -> None:
        if reason := base_image_missing_reason():
            say(reason)
            raise SystemExit(2)
        self.label = label
        self.uid = secrets.token_hex(3)
        self.root = Path(tempfile.mkdtemp(prefix=f"loopctl-bench-{label}-"))
        self.service = self.root / "service"
        shutil.copytree(SERVICE, self.service, ignore=shutil.ignore_patterns("__pycache__"))
        self.secret = os.environ.get(SECRET_ENV) or secrets.token_hex(16)
        self.env = {**os.environ, SECRET_ENV: self.secret, "CI": "true"}
        self.containers: list[str] = []
        self.repositories: list[str] = []
        self.edits = 0
        self.registry: RegistryHandle | None = None
        self.registry = start_registry(self.root)
        self._git_init()
        say(f"sandbox: {self.root}, registry {self.registry.address}")

    @property
    def registry_address(self) -> str:
        assert self.registry is not None
        return self.registry.address

    def repository(self, name: str) -> str:
        """A repository in this sandbox's registry, removed from the engine at close()."""
        repository = f"{self.registry_address}/bench-{self.label}-{name}-{self.uid}"
        self.repositories.append(repository)
        return repository

    def container(self, name: str) -> str:
        """A container name no one else uses, removed at close()."""
        container = f"loopctl-bench-{self.label}-{name}-{self.uid}"
        self.containers.append(container)
        return container

    def write_config(self, name: str, *, host_port: int | None = None) -> Path:
        """The repo's config.yaml with this sandbox's context, repository, container, port and iterations folder."""
        config: dict[str, Any] = yaml.safe_load((REPO / "config.yaml").read_text())
        config["iterations_dir"] = f"iterations-{name}"
        config["build"]["context"] = "service"
        config["build"]["image"] = self.repository(name)
        docker = config["deploy"]["docker"]
        docker["name"] = self.container(name)
        docker["host_port"] = host_port if host_port is not None else free_port()
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def touch(self) -> None:
        """A one-file change: a new comment at the end of a module, so the build context differs."""
        self.edits += 1
        with (self.service / TOUCHED).open("a", encoding="utf-8") as source:
            source.write(f"# bench edit {self.uid}-{self.edits}\n")

    def iterate(self, config: Path, *, build_only: bool = False) -> tuple[float, dict[str, Any]]:
        """`loopctl iterate --json` as a user runs it; wall-clock seconds and the record it printed.

        `build_only`: the config has no deploy and no checks, so the iteration is `inconclusive` (exit 5) by
        design — nothing was probed — and what must hold is that every phase it ran succeeded.
        """
        elapsed, done = timed([LOOPCTL, "iterate", "--config", config, "--ci", "--json"], env=self.env)
        try:
            record: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            record = {}
        if not _as_expected(record, done.returncode, build_only=build_only):
            say(f"iteration {record.get('number')} ended {record.get('status')}:\n{done.stderr[-2000:]}")
            raise SystemExit(1)
        return elapsed, record

    def close(self) -> None:
        remove_from_engine(self.containers, self.repositories)
        if self.registry is not None:
            self.registry.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        say(f"sandbox: removed {len(self.containers)} container name(s), images of {len(self.repositories)} repo(s)")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _git_init(self) -> None:
        # A real project is a git work tree: loopctl tags images with the commit and reads `dirty`.
        (self.root / ".gitignore").write_text("iterations-*/\n*.yaml\n")
        for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench sandbox"]):
            checked([*GIT, "-C", self.root, *argv])


def _as_expected(record: dict[str, Any], exit_code: int, *, build_only: bool) -> bool:
    if not build_only:
        return exit_code == 0 and record.get("status") in ("success", "no_change", "progress")
    ran = [phase for phase in record.get("phases", []) if phase.get("status") != "skipped"]
    return exit_code == 5 and record.get("status") == "inconclusive" and all(p["status"] == "ok" for p in ran)


def remove_from_engine(containers: list[str], repositories: list[str]) -> None:
    """Remove these containers and every tag of these repositories; a failure to remove one never stops the rest."""
    client = docker_client()
    for name in containers:
        for found in client.containers.list(all=True, filters={"name": name}):
            if found.name == name:
                with contextlib.suppress(Exception):
                    found.remove(force=True)
    for repository in repositories:
        for image in client.images.list(name=repository):
            # By tag, never by id: an identical build elsewhere shares the id, and its tags must stay.
            for tag in image.tags:
                if tag.startswith(f"{repository}:"):
                    with contextlib.suppress(Exception):
                        client.images.remove(tag, noprune=False)


def phase_line(record: dict[str, Any], wall: float) -> str:
    """`0.42s outside the record; in-record 3.10s: build 2.31s (cached no), push 0.40s (uploaded True), …`.

    Outside the record is what the phases do not see: interpreter start-up, imports, config, report and save.
    """
    sections = {"build": ("cached", "build"), "push": ("uploaded", "push"), "deploy": ("reused", "deploy")}
    parts = []
    for phase in record.get("phases", []):
        note = ""
        if phase["name"] in sections:
            key, section = sections[phase["name"]]
            note = f" ({key} {(record.get(section) or {}).get(key)})"
        parts.append(f"{phase['name']} {phase['duration_s']:.2f}s{note}")
    inside = record_wall(record)
    return f"{wall - inside:.2f}s outside the record; in-record {inside:.2f}s: " + ", ".join(parts)


def record_wall(record: dict[str, Any]) -> float:
    """finished_at − started_at: the iteration's own time, without interpreter start-up and imports."""
    started, finished = (datetime.fromisoformat(record[key]) for key in ("started_at", "finished_at"))
    return (finished - started).total_seconds()


def engine_cli() -> str | None:
    """The `docker` binary when it is installed and reaches the engine, else None."""
    binary = shutil.which("docker")
    if binary is None:
        return None
    _, done = timed([binary, "version", "--format", "{{.Server.Version}}"])
    return binary if done.returncode == 0 else None
