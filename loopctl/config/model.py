"""config.yaml's model: every block and key, validated; relative paths anchored next to the file."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loopctl.clients.google import is_emulator
from loopctl.config.steps import StepConfig
from loopctl.errors import ConfigDeprecation
from loopctl.secrets.references import HeaderValue, SecretRef, TokenRef, anchor_files
from loopctl.wire import APPLICATION_CLOSE_CODES, APPLICATION_RANGE_TEXT, AuthMode, HttpAuthMode


def renamed_keys(where: str, renames: dict[str, str]) -> Any:
    """A before-validator taking a block's old key names for one release, with a warning naming the new one.

    Timeouts are `timeout` (how long the thing itself may take) or `ready_timeout` (how long loopctl waits for
    it), in seconds, everywhere; `timeout_s` and `deadline_s` said the same in two more ways.
    """

    def rename(_cls: Any, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        moved = dict(raw)
        for old, new in renames.items():
            if old in moved and new not in moved:
                moved[new] = moved.pop(old)
                warnings.warn(
                    f"{where}.{old} is now {where}.{new}: the old name is read until the next release",
                    ConfigDeprecation,
                    stacklevel=2,
                )
        return moved

    return classmethod(rename)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_IMAGE_REPOSITORY = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$"
)


CloudBuildMachine = Literal[
    "E2_MEDIUM", "E2_STANDARD_2", "E2_HIGHCPU_8", "E2_HIGHCPU_32", "N1_HIGHCPU_8", "N1_HIGHCPU_32"
]


class CloudBuildConfig(_Strict):
    """Where and how Cloud Build runs the build; http:// endpoints are emulators (anonymous)."""

    _renamed = model_validator(mode="before")(renamed_keys("build.cloudbuild", {"timeout_s": "timeout"}))

    project: str = Field(min_length=1)
    region: str = "global"
    bucket: str | None = None  # default PROJECT_cloudbuild, created when missing, as gcloud does
    machine_type: CloudBuildMachine | None = None
    disk_size_gb: int | None = Field(None, ge=1, le=4000)
    timeout: int = Field(600, ge=1, le=86400)  # seconds the build may run, and wait in the queue
    service_account: str | None = None  # an email; the build then runs (and pushes) as this account
    worker_pool: str | None = None  # a name, or projects/P/locations/R/workerPools/NAME
    api_endpoint: str | None = None
    storage_endpoint: str | None = None

    @property
    def source_bucket(self) -> str:
        return self.bucket or f"{self.project}_cloudbuild"


class BuildConfig(_Strict):
    context: str = "."
    dockerfile: str = "Dockerfile"
    image: str
    args: dict[str, str] = Field(default_factory=dict)
    target: str | None = None
    platform: str = "linux/amd64"
    builder: Literal["docker", "cloudbuild"] = "docker"
    cloudbuild: CloudBuildConfig | None = None
    # Whether an image already under the input tag stands in for a build (see phases/image_cache.py).
    cache: Literal["records", "registry", "off"] = "records"

    @model_validator(mode="after")
    def _builder_block(self) -> BuildConfig:
        if self.builder == "cloudbuild" and self.cloudbuild is None:
            raise ValueError("builder 'cloudbuild' needs a build.cloudbuild block (project at least)")
        return self

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @field_validator("image")
    @classmethod
    def _repository(cls, image: str) -> str:
        if not _IMAGE_REPOSITORY.match(image):
            raise ValueError(
                f"{image!r} is not an image repository (lowercase, no tag), e.g. 127.0.0.1:5000/agent-service"
            )
        return image


class PushConfig(_Strict):
    auth: Literal["docker-config", "gcloud", "none"] = "docker-config"


class DockerDeployConfig(_Strict):
    """A container on the local engine: `port` inside, published on 127.0.0.1:`host_port` (0 or unset: any free).

    `name` defaults to the project (one service) or `PROJECT-SERVICE`; `image` runs an image loopctl did not build.
    """

    name: str = ""  # filled in when the config is read: the project's name, or PROJECT-SERVICE
    image: str | None = Field(None, min_length=1)
    port: int = Field(8080, ge=1, le=65535)
    host_port: int | None = Field(None, ge=0, le=65535)
    env: dict[str, str | SecretRef] = Field(default_factory=dict)
    ready_timeout: float = Field(60.0, gt=0)
    command: list[str] | None = None  # replaces the image's CMD

    @field_validator("env")
    @classmethod
    def _port_from_port(cls, env: dict[str, Any]) -> dict[str, Any]:
        # The container gets PORT=<port>; a second value would publish one port and listen on another.
        if "PORT" in env:
            raise ValueError("PORT is set from deploy.docker.port; remove it from env")
        return env


# Cloud Run's own rules, checked before any API call so a deploy never fails late on them.
_SERVICE_NAME = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
_SERVICE_NAME_MAX = 49  # "less than 50 characters"
_TAG_AND_SERVICE_MAX = 46  # a tag URL `TAG---SERVICE-HASH-REGION.a.run.app` must fit one DNS label
PREVIEW_TAG = "loopctl"
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_RESERVED_LABEL_PREFIXES = (
    "run.googleapis.com",
    "cloud.googleapis.com",
    "serving.knative.dev",
    "autoscaling.knative.dev",
)
_PULLABLE_HOSTS = re.compile(r"^(?:[a-z0-9-]+\.)*gcr\.io$|^[a-z0-9-]+-docker\.pkg\.dev$|^(?:registry-1\.)?docker\.io$")


class SecretManagerRef(_Strict):
    """`{secret: NAME, version: latest}`: Cloud Run reads the value from Secret Manager when the instance starts."""

    secret: str = Field(min_length=1)
    version: str = "latest"


class CloudRunConfig(_Strict):
    _renamed = model_validator(mode="before")(
        renamed_keys("deploy.cloudrun", {"timeout_s": "request_timeout", "deadline_s": "ready_timeout"})
    )

    project: str
    region: str
    service: str
    port: int = Field(8080, ge=1, le=65535)
    strategy: Literal["direct", "preview"] = "direct"
    rollback_on_failure: bool = False
    allow_zero_traffic: bool = False
    allow_missing: bool = True
    env: dict[str, str | SecretRef | SecretManagerRef] = Field(default_factory=dict)
    cpu: str | None = None
    memory: str | None = None
    min_instances: int | None = Field(None, ge=0)
    max_instances: int | None = Field(None, ge=1)
    request_timeout: int | None = Field(None, ge=1, le=3600)  # Cloud Run's request timeout: streams end there
    ingress: Literal["all", "internal", "internal-and-cloud-load-balancing"] | None = None
    service_account: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    public: bool = False  # false: the probe sends an ID token; true: allUsers may invoke (set on create)
    custom_audiences: list[str] = Field(default_factory=list)
    ready_timeout: float = Field(600.0, gt=0)  # seconds loopctl waits for the rollout
    api_endpoint: str | None = None
    logging_endpoint: str | None = None  # the Cloud Logging API's; an http:// emulator is read anonymously
    logs_wait_s: float = Field(10.0, ge=0)  # how long to wait for the window's entries to be ingested

    @property
    def emulated(self) -> bool:
        """An `http://` api_endpoint is an emulator: anonymous calls, any image host."""
        return is_emulator(self.api_endpoint)

    @field_validator("service")
    @classmethod
    def _service_name(cls, service: str) -> str:
        if len(service) > _SERVICE_NAME_MAX or not _SERVICE_NAME.match(service):
            raise ValueError(
                f"{service!r} is not a Cloud Run service name: lowercase letters, digits and hyphens, "
                f"starting with a letter, not ending with a hyphen, at most {_SERVICE_NAME_MAX} characters"
            )
        return service

    @field_validator("labels")
    @classmethod
    def _label_rules(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if key.split("/", 1)[0].endswith(_RESERVED_LABEL_PREFIXES) or key.startswith("goog"):
                raise ValueError(f"label {key!r} uses a prefix Google reserves (run.googleapis.com/, goog…)")
            if not _LABEL_KEY.match(key):
                raise ValueError(
                    f"label key {key!r}: lowercase letters, digits, '_' and '-', starting with a letter, "
                    "at most 63 characters"
                )
            if not _LABEL_VALUE.match(value):
                raise ValueError(f"label {key!r}: value {value!r}: lowercase letters, digits, '_' and '-', at most 63")
        if len(labels) > 64:
            raise ValueError("at most 64 labels")
        return labels

    @field_validator("env")
    @classmethod
    def _no_plaintext_secrets(cls, env: dict[str, Any]) -> dict[str, Any]:
        plaintext = [name for name, value in env.items() if isinstance(value, SecretRef)]
        if plaintext:
            raise ValueError(
                f"{plaintext[0]} would be written into the revision as plain text: on Cloud Run a secret is a "
                f"Secret Manager reference, e.g. {plaintext[0]}: {{secret: NAME, version: latest}}"
            )
        return env

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str | None) -> str | None:
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"{endpoint!r}: give the scheme, e.g. https://europe-west1-run.googleapis.com")
        return endpoint

    @model_validator(mode="after")
    def _cloud_run_limits(self) -> CloudRunConfig:
        if self.strategy == "preview" and len(PREVIEW_TAG) + len(self.service) > _TAG_AND_SERVICE_MAX:
            raise ValueError(
                f"strategy preview tags revisions {PREVIEW_TAG!r}: tag and service name together must be at most "
                f"{_TAG_AND_SERVICE_MAX} characters, so service names up to "
                f"{_TAG_AND_SERVICE_MAX - len(PREVIEW_TAG)} (this one has {len(self.service)})"
            )
        return self


def cloudrun_target(config: Config) -> CloudRunConfig | None:
    """The deploy.cloudrun block when Cloud Run is the deploy target; None for any other target."""
    deploy = config.deploy
    return deploy.cloudrun if deploy is not None and deploy.target == "cloudrun" else None


def pullable_by_cloud_run(image: str) -> bool:
    """Whether Cloud Run can pull `image`: Artifact Registry, Container Registry or Docker Hub."""
    first = image.split("/", 1)[0]
    host = first if "/" in image and ("." in first or ":" in first or first == "localhost") else "docker.io"
    return bool(_PULLABLE_HOSTS.match(host))


# Compose's own rule for a service name (its compose_spec.json): a leading '.', '_' or '-' is allowed.
_COMPOSE_SERVICE = re.compile(r"^[a-zA-Z0-9._-]+$")


class ComposeDeployConfig(_Strict):
    """The user's Compose file run by the Compose CLI; `service` is the compose service loopctl builds and probes.

    `service` is one name, or a mapping of loopctl service names to compose services (one block shared by the
    services of a project); unset, or a loopctl service the mapping does not name, it is the loopctl service's name.
    """

    file: str = Field("docker-compose.yml", min_length=1)
    service: str | dict[str, str] | None = None
    port: int = Field(8080, ge=1, le=65535)
    ready_timeout: float = Field(60.0, gt=0)

    @field_validator("service")
    @classmethod
    def _compose_names(cls, service: str | dict[str, str] | None) -> str | dict[str, str] | None:
        named = [service] if isinstance(service, str) else list((service or {}).values())
        for name in named:
            if not _COMPOSE_SERVICE.match(name):
                raise ValueError(f"{name!r} is not a compose service name (letters, digits, '.', '_', '-')")
        return service

    def service_for(self, name: str) -> str:
        """The compose service of the loopctl service `name` (the project's name for one service)."""
        if isinstance(self.service, str):
            return self.service
        return (self.service or {}).get(name, name)


class DeployConfig(_Strict):
    target: Literal["url", "docker", "cloudrun", "compose"]
    url: str | None = None
    docker: DockerDeployConfig | None = None
    cloudrun: CloudRunConfig | None = None
    compose: ComposeDeployConfig | None = None

    @model_validator(mode="after")
    def _target_block(self) -> DeployConfig:
        if self.target == "url" and not self.url:
            raise ValueError("target 'url' needs deploy.url (the service's base URL)")
        if self.target in ("docker", "cloudrun") and getattr(self, self.target) is None:
            raise ValueError(f"target {self.target!r} needs a deploy.{self.target} block")
        return self


class WebSocketAuth(_Strict):
    # message: the token travels only where a step's `send` says `{token}`.
    type: AuthMode = "bearer"
    token: TokenRef


class HttpAuth(_Strict):
    """How an HTTP check sends its token: `Authorization: Bearer` or `?token=` (no subprotocols over plain HTTP)."""

    type: HttpAuthMode = "bearer"
    token: TokenRef


class HttpCheckConfig(_Strict):
    path: str = "/"
    url: str | None = None
    expect_status: int | None = Field(None, ge=100, le=599)
    timeout: float = Field(10.0, gt=0, le=3600)
    auth: HttpAuth | None = None
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    ca_bundle: str | None = None


class WebSocketCheckConfig(_Strict):
    path: str = "/"
    url: str | None = None
    auth: WebSocketAuth | None = None
    send: Any = None
    expect_events: list[str] = Field(default_factory=list)
    event_field: str = "type"
    timeout: float = Field(30.0, gt=0, le=3600)
    hold: float = Field(1.0, ge=0, le=3600)
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    ca_bundle: str | None = None
    # Frames the app marks as errors: each a subset of a frame's fields. None: `{event_field: error}`.
    fail_on: list[dict[str, Any]] | None = None
    steps: list[StepConfig] | None = None  # a conversation, in place of send + expect_events

    @model_validator(mode="after")
    def _steps_or_shorthand(self) -> WebSocketCheckConfig:
        if self.steps is not None and (self.send is not None or self.expect_events):
            raise ValueError("give either steps or send + expect_events (the shorthand for the same steps)")
        if self.steps == []:
            raise ValueError("steps is empty: list at least one send or expect")
        if self.auth is not None and self.auth.type == "message" and self.steps is None:
            raise ValueError("auth type 'message' sends the token only in a step: add steps with a send using {token}")
        return self


class LoadConfig(_Strict):
    concurrency: int = Field(ge=1, le=10000)
    duration: float = Field(0.0, ge=0, le=3600)


class CheckConfig(_Strict):
    name: str = Field(min_length=1)
    priority: int = Field(1, ge=1, le=3)
    impact: str | None = None
    http: HttpCheckConfig | None = None
    websocket: WebSocketCheckConfig | None = None
    load: LoadConfig | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> CheckConfig:
        if (self.http is None) == (self.websocket is None):
            raise ValueError("a check needs exactly one of 'http' or 'websocket'")
        return self


class AppCodeConfig(_Strict):
    category: str
    depth: int | None = Field(None, ge=0, le=4)
    hint: str = ""


class ProbeConfig(_Strict):
    close_codes: dict[int, str | AppCodeConfig] = Field(default_factory=dict)
    checks: list[CheckConfig] = Field(default_factory=list)

    @field_validator("close_codes")
    @classmethod
    def _application_range(cls, codes: dict[int, Any]) -> dict[int, Any]:
        wrong = [code for code in codes if code not in APPLICATION_CLOSE_CODES]
        if wrong:
            raise ValueError(f"application close codes are {APPLICATION_RANGE_TEXT}, not {wrong[0]}")
        return codes

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, checks: list[CheckConfig]) -> list[CheckConfig]:
        uses = Counter(check.name for check in checks)  # one pass: `list.count` per name made 2,000 checks cost 0.5 s
        duplicate = next((check.name for check in checks if uses[check.name] > 1), None)
        if duplicate:
            raise ValueError(f"check name {duplicate!r} is used twice")
        return checks


class SuiteConfig(_Strict):
    name: str = Field(min_length=1)
    priority: int = Field(1, ge=1, le=3)
    command: str = Field(min_length=1)
    timeout: float = Field(600.0, gt=0)
    cwd: str | None = None

    @property
    def log_suffix(self) -> str:
        """`suite-NAME.log`: the suite's output beside the record, its name made safe for a file name."""
        return "suite-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in self.name) + ".log"


class ReportConfig(_Strict):
    emoji: bool = True
    trend: int = Field(10, ge=2, le=100)


_SERVICE_KEY = re.compile(r"^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$")


class ServiceConfig(_Strict):
    """One service of several: its own build, push, deploy and probe blocks, as the top level has them for one."""

    depends_on: list[str] = Field(default_factory=list)
    build: BuildConfig | None = None
    push: PushConfig | None = None
    deploy: DeployConfig | None = None
    probe: ProbeConfig = Field(default_factory=ProbeConfig)


class Config(_Strict):
    """The whole of config.yaml."""

    project: str = Field(min_length=1)
    iterations_dir: str = "iterations"
    build: BuildConfig | None = None
    push: PushConfig | None = None
    deploy: DeployConfig | None = None
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    suites: list[SuiteConfig] = Field(default_factory=list)
    report: ReportConfig = ReportConfig()
    # Several services instead of the top-level build, push and deploy (see loopctl/config/services.py).
    services: dict[str, ServiceConfig] | None = None

    # Where the file was read from: relative paths in it are relative to its folder.
    base_dir: Path = Field(default=Path("."), exclude=True)
    config_file: Path | None = Field(default=None, exclude=True)

    @field_validator("suites")
    @classmethod
    def _one_log_per_suite(cls, suites: list[SuiteConfig]) -> list[SuiteConfig]:
        seen: dict[str, str] = {}
        for suite in suites:
            if suite.name in seen.values():
                raise ValueError(f"suite name {suite.name!r} is used twice")
            other = seen.setdefault(suite.log_suffix, suite.name)
            if other != suite.name:
                raise ValueError(
                    f"suite names {other!r} and {suite.name!r} would share the log file NNNN.{suite.log_suffix}"
                )
        return suites

    @field_validator("services")
    @classmethod
    def _service_names(cls, services: dict[str, ServiceConfig] | None) -> dict[str, ServiceConfig] | None:
        if services is not None and not services:
            raise ValueError("services is empty: name at least one service, or use the top-level blocks")
        for name in services or {}:
            if not _SERVICE_KEY.match(name):
                raise ValueError(
                    f"service name {name!r}: lowercase letters, digits and '-', starting with a letter, at most 32 "
                    "characters (it names the container and its host on the project network)"
                )
        return services

    @model_validator(mode="after")
    def _services_or_top_level(self) -> Config:
        if self.services is not None:
            both = [key for key in ("build", "push", "deploy") if getattr(self, key) is not None]
            if self.probe.checks:
                both.append("probe.checks")
            if both:
                raise ValueError(
                    f"give {', '.join(both)} inside each service under services:, not at the top level as well"
                )
        return self

    @model_validator(mode="after")
    def _files_next_to_the_config(self) -> Config:
        anchor_files(self, self.base_dir)
        return self

    @model_validator(mode="after")
    def _container_names(self) -> Config:
        """An unnamed container is named after the project, or `PROJECT-SERVICE` (part of validating: frozen after)."""
        project = re.sub(r"[^a-zA-Z0-9_.-]+", "-", self.project).strip("-_.") or "service"  # the engine's rule
        deploys = [(project, self.deploy)]
        deploys += [(f"{project}-{name}", block.deploy) for name, block in (self.services or {}).items()]
        for default, deploy in deploys:
            if deploy is not None and deploy.docker is not None and not deploy.docker.name:
                object.__setattr__(deploy.docker, "name", default)
        return self

    def path(self, relative: str) -> Path:
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.base_dir / candidate
