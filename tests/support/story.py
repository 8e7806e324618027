"""The acceptance story's set-up: a copied service whose source the test edits, and loopctl run as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.agent_service import EVENTS
from tests.support.realparts import BASE_IMAGE, docker_client

REPO = Path(__file__).resolve().parents[2]
SERVICE_SOURCE = REPO / "examples" / "agent-service"
SECRET_ENV = "LOOPCTL_ACCEPTANCE_JWT"
PROJECT, REGION, SERVICE = "acceptance-proj", "us-central1", "backend-staging"
# A minted HS256 token starts with the base64 of '{"alg":"HS256"': none may be written anywhere.
TOKEN_PREFIX = "eyJhbGciOiJIUzI1NiIs"
_FAULT_DEFAULT = re.compile(r'environ\.get\("FAULT", "[a-z0-9]*"\)')
_RUN_TIMEOUT_S = 120

CONFIG = """\
# The acceptance story's loop: a copy of the sample service, a throwaway registry, Cloud Run (emulated).
project: agent-service
iterations_dir: iterations

build:
  context: agent-service
  dockerfile: Dockerfile
  image: {registry}/agent-service
  args: {{BASE_IMAGE: {base_image}}}

push:
  auth: none

deploy:
  target: cloudrun
  cloudrun:
    project: {project}
    region: {region}
    service: {service}
    api_endpoint: {endpoint}
    logging_endpoint: {logging_endpoint}
    logs_wait_s: 2
    ready_timeout: 60
    public: true
    env:
      JWT_SECRET: {{secret: jwt-secret}}

probe:
  checks:
    - name: health
      priority: 1
      http: {{path: /health, expect_status: 200}}
    - name: chat-events
      priority: 1
      impact: Users can chat and see the agent work
      websocket:
        path: /ws
        auth: {{type: bearer, token: {{jwt: {{secret: {{env: {secret_env}}}, claims: {{sub: probe}}, ttl: 300}}}}}}
        send: {{type: user_message, payload: {{content: hello}}}}
        expect_events: [{events}]
        timeout: 15
"""


@dataclass
class Workspace:
    """A user's folder: config.yaml, a copy of the service's source, and the iterations loopctl writes."""

    root: Path
    secret: str
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def iterations(self) -> Path:
        return self.root / "iterations"

    @property
    def settings(self) -> Path:
        return self.root / "agent-service" / "agent_service" / "settings.py"

    def record(self, number: int) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.iterations / f"{number:04d}.json").read_text())
        return loaded

    def report(self, number: int) -> str:
        return (self.iterations / f"{number:04d}.md").read_text()

    def set_fault_default(self, fault: str) -> None:
        """Edit the service's source, as the engineer does: the FAULT it shows when the environment names none."""
        source = self.settings.read_text()
        edited, count = _FAULT_DEFAULT.subn(f'environ.get("FAULT", "{fault}")', source)
        assert count == 1, f"settings.py no longer reads FAULT with a default: {self.settings}"
        self.settings.write_text(edited)

    def git(self, *args: str) -> str:
        """Run git in the folder as the engineer would (an identity of its own, whatever the machine's config)."""
        identity = ["-c", "user.name=Story Engineer", "-c", "user.email=engineer@example.com"]
        done = subprocess.run(
            ["git", *identity, *args], cwd=self.root, capture_output=True, text=True, check=True, timeout=30
        )
        return done.stdout

    def commit(self, subject: str) -> None:
        self.git("add", "--all", "--", "agent-service", "config.yaml")
        self.git("commit", "--quiet", "-m", subject)

    def iterate(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m loopctl iterate --config config.yaml ARGS`, timed and kept."""
        began = time.monotonic()
        done = self.loopctl("iterate", *args)
        self.seconds.append(time.monotonic() - began)
        self.runs.append(done)
        return done

    def loopctl(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        environ = {**os.environ, SECRET_ENV: self.secret}
        environ.pop("GITHUB_STEP_SUMMARY", None)  # a CI runner's summary file is not ours to append to
        return subprocess.run(
            [sys.executable, "-m", "loopctl", command, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=_RUN_TIMEOUT_S,
            env=environ,
            cwd=self.root,
            check=False,
        )

    def written(self) -> dict[Path, str]:
        """Every file under the folder, as text."""
        return {path: path.read_text(errors="replace") for path in sorted(self.root.rglob("*")) if path.is_file()}


def make_workspace(root: Path, *, registry: str, endpoint: str, logging_endpoint: str, secret: str) -> Workspace:
    """Copy the sample service (no bytecode), write a config.yaml that points at the real parts, start a git repo."""
    shutil.copytree(SERVICE_SOURCE, root / "agent-service", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    text = CONFIG.format(
        registry=registry,
        base_image=BASE_IMAGE,
        project=PROJECT,
        region=REGION,
        service=SERVICE,
        endpoint=endpoint,
        logging_endpoint=logging_endpoint,
        secret_env=SECRET_ENV,
        events=", ".join(EVENTS),
    )
    (root / "config.yaml").write_text(text)
    workspace = Workspace(root, secret)
    workspace.git("init", "--quiet", "--initial-branch=main")
    return workspace


def remove_images(repository: str) -> None:
    """Remove every local image tagged in `repository` (the throwaway registry's), so the engine does not fill up."""
    import docker.errors

    client = docker_client()
    for image in client.images.list(name=repository):
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(image.id, force=True)


def copy_reports(workspace: Workspace, numbers: range, target: Path) -> None:
    """The sample reports in examples/reports/ are these files, copied as they were written."""
    target.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        shutil.copyfile(workspace.iterations / f"{number:04d}.md", target / f"{number:04d}.md")
