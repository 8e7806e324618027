"""What `loopctl init` writes: a commented config.yaml for a target, fitted to the repo's Dockerfile."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loopctl.clients.git_repo import git
from loopctl.errors import UsageError
from loopctl.outside_text import one_line
from loopctl.records.store import write_atomic

Target = Literal["docker", "cloudrun", "url", "compose"]
# The names Compose looks for, in its order (the Compose specification's "compose file" section).
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
COMPOSE_LIMIT = 1024**2  # bytes of a Compose file read for its services
DEFAULT_PORT = 8080
ITERATIONS_DIR = "iterations"
DOCKERFILE_LIMIT = 1024**2  # bytes of the Dockerfile read for its EXPOSE line

_NAME_JUNK = re.compile(r"[^a-z0-9]+")
_NAME_MAX = 49  # Cloud Run service names are "less than 50 characters"


@dataclass(frozen=True)
class Service:
    """What init learns from the folder: a name for the project and image, the Dockerfile and its port."""

    project: str
    dockerfile: str | None
    port: int | None  # the first port the Dockerfile EXPOSEs
    compose: Compose | None = None  # a Compose file beside the config, if any


@dataclass(frozen=True)
class Compose:
    """A Compose file beside the config: its name and the service to build and probe (the first one it builds)."""

    file: str
    service: str
    context: str | None = None  # that service's build context, when the file builds it
    dockerfile: str = "Dockerfile"


def detect_service(folder: Path) -> Service:
    """The folder's name as the project; its Dockerfile and the first port it EXPOSEs; its Compose file."""
    project = project_name(folder.resolve().name)
    compose = detect_compose(folder)
    dockerfile = (
        folder / (compose.context or "." if compose else ".") / (compose.dockerfile if compose else "Dockerfile")
    )
    if not dockerfile.is_file():
        return Service(project, None, None, compose)
    with dockerfile.open("rb") as stream:  # a regular file (is_file): reading it never waits
        head = stream.read(DOCKERFILE_LIMIT)
    name = os.path.relpath(dockerfile, folder)
    return Service(project, name, exposed_port(head.decode("utf-8", errors="replace")), compose)


def detect_compose(folder: Path) -> Compose | None:
    """The Compose file Compose itself would read here, and its service to probe: the first with a `build`, else
    the first; None when there is no file, or it is not a mapping of services (Compose will say why, not init)."""
    import yaml

    found = next((folder / name for name in COMPOSE_FILES if (folder / name).is_file()), None)
    if found is None:
        return None
    with found.open("rb") as stream:
        text = stream.read(COMPOSE_LIMIT).decode("utf-8", errors="replace")
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):  # broken or nested past the parser's depth: Compose will say why
        document = None
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict) or not services:
        return None
    built = [(name, spec["build"]) for name, spec in services.items() if isinstance(spec, dict) and "build" in spec]
    if not built:
        return Compose(found.name, str(next(iter(services))))
    name, build = built[0]
    context = build if isinstance(build, str) else str(build.get("context", ".")) if isinstance(build, dict) else "."
    dockerfile = str(build.get("dockerfile", "Dockerfile")) if isinstance(build, dict) else "Dockerfile"
    return Compose(found.name, str(name), context, dockerfile)


def project_name(folder_name: str) -> str:
    """A name that is also a valid image repository, container and Cloud Run service name."""
    name = _NAME_JUNK.sub("-", folder_name.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"svc-{name}".rstrip("-")
    return name[:_NAME_MAX].rstrip("-")


def exposed_port(dockerfile: str) -> int | None:
    """The first numeric port of the first EXPOSE line (`EXPOSE 8000/tcp 9000` → 8000); None without one."""
    # Line by line, not one multi-line pattern: `^\s*` over a long run of blank lines backtracks quadratically.
    for line in dockerfile.splitlines():
        words = line.split()
        if not words or words[0].upper() != "EXPOSE":
            continue
        for word in words[1:]:
            number = word.split("/", 1)[0]
            if number.isdigit() and 0 < int(number) < 65536:
                return int(number)
    return None


def render_config(target: Target, service: Service) -> str:
    """The whole commented config.yaml for `target`."""
    port = service.port or DEFAULT_PORT
    compose = service.compose
    builds = target in _BUILD and (target != "compose" or (compose is not None and compose.context is not None))
    build = [_BUILD[target]] if builds else []
    parts = [_head(target, service), *build, _DEPLOY[target], _PROBE, _TAIL]
    text = "\n".join(part.strip("\n") + "\n" for part in parts)
    return text.format(
        project=service.project,
        port=port,
        dockerfile=service.dockerfile or "Dockerfile",
        compose_file=compose.file if compose else "docker-compose.yml",
        compose_service=compose.service if compose else service.project,
        context=(compose.context if compose else None) or ".",
        compose_dockerfile=compose.dockerfile if compose else "Dockerfile",
    )


def write_ignores(folder: Path, target: Target, iterations_dir: str = ITERATIONS_DIR) -> tuple[str, ...]:
    """Add the iterations folder to `.dockerignore` (when building) and `.gitignore` (in a git work tree).

    `.dockerignore` also gains `.git`: git rewrites its index on a mere `git status`, which would change the
    input digest and rebuild an unchanged service.
    """
    wanted = _wanted_ignores(folder, target, iterations_dir)
    return tuple(name for name, entries in wanted.items() if _add_lines(folder / name, entries, _WHY[name]))


def check_ignores(folder: Path, target: Target, iterations_dir: str = ITERATIONS_DIR) -> None:
    """Refuse ignore files that are links or not plain files: init would write into whatever they point at."""
    for name in _wanted_ignores(folder, target, iterations_dir):
        path = folder / name
        if path.is_symlink():
            raise UsageError(
                f"{path} is a symbolic link (to {one_line(os.readlink(path))}): loopctl init does not write through it",
                hint=f"add the lines `{iterations_dir.strip('/')}/` and `.git` to the file it points at yourself, "
                "or replace the link with a plain file",
            )
        if path.exists() and not path.is_file():
            raise UsageError(f"{path} is not a regular file", hint="replace it with a plain file, or remove it")


def _wanted_ignores(folder: Path, target: Target, iterations_dir: str) -> dict[str, list[str]]:
    records = f"{iterations_dir.strip('/')}/"
    wanted: dict[str, list[str]] = {}
    if target != "url":
        wanted[".dockerignore"] = [records, ".git"]
    if (folder / ".gitignore").is_file() or (folder / ".gitignore").is_symlink() or _in_git(folder):
        wanted[".gitignore"] = [records]
    return wanted


_WHY = {".dockerignore": "never part of the image", ".gitignore": "loopctl's records, reports and logs"}


def _add_lines(path: Path, entries: list[str], why: str) -> bool:
    # Whatever bytes the user's file holds are written back as they were: only loopctl's lines are added.
    text = path.read_text(encoding="utf-8", errors="surrogateescape") if path.is_file() else ""
    present = {line.strip().strip("/") for line in text.splitlines()}
    missing = [entry for entry in entries if entry.strip("/") not in present]
    if not missing:
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    lines = "".join(f"{entry}\n" for entry in missing)
    # Replaced, never written through: a link made since the check is replaced by a file, its target untouched.
    write_atomic(path, f"{text}{separator}# added by loopctl init: {why}\n{lines}", errors="surrogateescape")
    return True


def ignore_warnings(config: Path, target: Target) -> list[str]:
    """What would go wrong with the config where it is written: git or the image build ignore it."""
    folder, name = config.parent, config.name
    warnings = []
    # A tracked file is never reported: git keeps committing it whatever the rules say.
    rule = git(folder, "check-ignore", "-v", "--", name) if _in_git(folder) else None
    if rule:
        source = rule.split("\t", 1)[0]  # `.gitignore:3:*.yaml`: the file, line and pattern that ignore it
        warnings.append(
            f"{name} is git-ignored ({source}): it will not be committed, so CI and the next clone will not have "
            f"it; add `!{name}` to .gitignore, or run `loopctl init` with another path"
        )
    dockerignore = folder / ".dockerignore"
    if target != "url" and dockerignore.is_file():
        from loopctl.phases.dockerignore import excluded

        lines = dockerignore.read_text(encoding="utf-8", errors="replace").splitlines()
        patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        if excluded(name, patterns):
            warnings.append(
                f"{name} is docker-ignored (.dockerignore): loopctl reads it from the repo, so that is fine, "
                f"unless the service itself reads a {name} from its image — then give `loopctl init` another path"
            )
    return warnings


def _in_git(folder: Path) -> bool:
    return git(folder, "rev-parse", "--is-inside-work-tree") == "true"


def _head(target: Target, service: Service) -> str:
    found = (
        f"# Found {service.dockerfile}" + (f" (EXPOSE {service.port})." if service.port else " (no EXPOSE: port 8080).")
        if service.dockerfile
        else "# No Dockerfile found beside this file."
    )
    if service.compose is not None:
        found += f"\n# Found {service.compose.file} (service {service.compose.service}): `--target compose` runs it."
    return f"""\
# loopctl configuration, written by `loopctl init --target {target}`.
{found}
# Every key is documented in loopctl's docs/configuration.md.
# Secrets are never written here: name them as {{{{env: NAME}}}}, {{{{file: PATH}}}} or {{{{command: "..."}}}}.

project: {{project}}  # used in report titles
iterations_dir: {ITERATIONS_DIR}  # records (NNNN.json), reports (NNNN.md), build logs; never sent to the engine
"""


_BUILD: dict[str, str] = {
    "docker": """
build:
  context: .                      # the folder sent to the engine; .dockerignore is honoured
  dockerfile: {dockerfile}
  image: {project}  # a local image on the engine, tagged <commit> and loopctl-NNNN
  # args: {{BASE_IMAGE: python:3.12-slim}}

# push:                           # to push to a registry, set build.image to REGISTRY/REPO and uncomment:
#   auth: docker-config           # docker-config (docker login) | gcloud | none
""",
    "cloudrun": """
build:
  context: .                      # the folder sent to the engine; .dockerignore is honoured
  dockerfile: {dockerfile}
  image: us-central1-docker.pkg.dev/my-project/services/{project}  # your Artifact Registry repository
  platform: linux/amd64           # what Cloud Run runs

push:
  auth: gcloud                    # an access token from application-default credentials
""",
}

_BUILD["compose"] = """
build:                            # the compose service loopctl builds, pinned by digest in an override file
  context: {context}  # that service's build context in the Compose file
  dockerfile: {compose_dockerfile}
  image: {project}  # a local image on the engine, tagged <commit> and loopctl-NNNN
"""

_DEPLOY: dict[str, str] = {
    "docker": """
deploy:
  target: docker                  # run the image on the local Docker Engine
  docker:
    name: {project}  # the container; the previous one of that name is replaced
    port: {port}  # the service listens here inside the container (PORT is set to it)
    # host_port: 18080            # published on 127.0.0.1; any free port when unset
    # env:
    #   LOG_LEVEL: debug
    #   API_TOKEN: {{env: API_TOKEN}}
""",
    "cloudrun": """
deploy:
  target: cloudrun
  cloudrun:
    project: my-project           # your Google Cloud project
    region: us-central1
    service: {project}
    port: {port}  # the service listens here (PORT is set to it)
    strategy: direct              # direct: the new revision takes the traffic | preview: probe it first
    public: false                 # false: a private service, the probe sends a Google ID token
    # request_timeout: 3600       # long WebSocket streams end at the request timeout
    # env:
    #   API_TOKEN: {{secret: api-token, version: latest}}
""",
    "compose": """
deploy:
  target: compose                 # your Compose file, run by the Compose CLI as project loopctl-{project}
  compose:
    file: {compose_file}
    service: {compose_service}  # the compose service loopctl builds and probes
    port: {port}  # it listens here inside its container; the Compose file must publish it
""",
    "url": """
deploy:
  target: url                     # a service deployed by other means, probed at `url`
  url: http://127.0.0.1:{port}
""",
}

_PROBE = """
probe:
  close_codes: {{}}                 # application close codes (4000-4999) -> category, e.g. {{4001: token_expired}}
  checks:
    - name: health
      priority: 1                 # 1 (must work) .. 3 (nice to have)
      http: {{path: /health, expect_status: 200}}
    - name: events
      priority: 1
      impact: Clients get the service's events over the WebSocket
      websocket:
        path: /ws
        # auth:                   # bearer (Authorization header) | subprotocol (jwt.<token>) | query (?token=)
        #   type: bearer
        #   token: {{env: SERVICE_TOKEN}}
        send: {{type: user_message, payload: {{content: hello}}}}
        expect_events: [agent_started, agent_completed]   # what the service sends back, in order
        event_field: type         # the JSON field that names an event
        timeout: 30               # seconds for the whole check
    # A conversation on one connection (auth in the first message, an id from one reply used in the next, text
    # frames): `steps` in place of send + expect_events. Uncomment and adapt:
    # - name: chat
    #   priority: 1
    #   websocket:
    #     path: /ws
    #     auth: {{type: message, token: {{env: CHAT_TOKEN}}}}   # the token travels only where a step sends {{token}}
    #     fail_on: [{{type: error}}]                      # a frame like this ends the check at once
    #     steps:
    #       - send: {{type: auth, token: "{{token}}"}}
    #       - expect: {{type: auth_ok}}                   # the next JSON frame with these fields (others are skipped)
    #         capture: {{session: session_id}}            # its field session_id (dotted paths allowed) as {{session}}
    #         timeout: 5
    #       - send: {{type: ask, session: "{{session}}", text: "2+2?"}}
    #       - expect: {{type: agent_completed, "result.status": ok}}
    #         match: {{"result.answer": "^4$"}}           # regular expressions on fields
    #       - expect_text: "^DONE"                       # a plain-text frame (or send one with `text:`)
    #       - expect_close: 1000                         # the server closes with this code
"""

_TAIL = """
# suites:                         # external test commands; {{junit}} is replaced by a JUnit XML path
#   - name: e2e-priority-1
#     priority: 1
#     command: pytest tests/e2e -m priority1 --junitxml={{junit}}

report:
  emoji: true                     # false: plain PASS/FAIL words
  trend: 10                       # iterations in the report's trend table and chart
"""
