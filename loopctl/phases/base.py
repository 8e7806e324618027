"""What a phase is and what it is handed: the vocabulary every phase and the runner share, below both."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loopctl.clients.git_repo import git_info
from loopctl.config import Config
from loopctl.errors import ErrorKind
from loopctl.outside_text import one_line
from loopctl.records.changes import watched_paths
from loopctl.records.record import CheckRecord, ErrorInfo, PhaseStatus, SuiteRecord
from loopctl.records.sections import DeploySection, Section, Sections
from loopctl.records.store import Store


@dataclass(frozen=True)
class Event:
    """One thing worth showing live: a phase starting, ending, or saying something."""

    kind: str  # "start" | "end" | "log"
    phase: str
    message: str = ""
    status: PhaseStatus | None = None
    duration_s: float | None = None
    service: str | None = None  # in a project of several services, whose phase

    @property
    def label(self) -> str:
        """`deploy`, or `store/deploy` when several services each have one."""
        return f"{self.service}/{self.phase}" if self.service else self.phase


EventSink = Callable[[Event], None]


@dataclass(frozen=True)
class RunOptions:
    """What the command line asks of this iteration's phases, beyond the config."""

    image: str | None = None  # `--image`: deploy this reference; build and push are skipped
    no_cache: bool = False  # `--no-cache`: rebuild, and replace a container or revision that already runs it


@dataclass(frozen=True)
class PhaseResult:
    """What a phase produced: its status and detail, plus the record section it fills."""

    status: PhaseStatus = "ok"
    detail: dict[str, Any] = field(default_factory=dict)
    section: Section | None = None
    checks: tuple[CheckRecord, ...] = ()
    suites: tuple[SuiteRecord, ...] = ()
    error: ErrorInfo | None = None


@dataclass
class Context:
    """What a phase may read: the config, this iteration's number and store, earlier phases' sections."""

    config: Config
    store: Store
    number: int
    on_event: EventSink
    options: RunOptions = field(default_factory=lambda: RunOptions())
    sections: Sections = field(default_factory=Sections)
    results: dict[str, PhaseResult] = field(default_factory=dict)
    # What phases fetch once per iteration and share (registry credentials): never written anywhere.
    memo: dict[str, Any] = field(default_factory=dict)
    # In a project of several services: whose phases these are, and what the services deployed before it made
    # known (`{"store": {"url": …, "host": …}}`) for `{services.NAME.url}` in its env.
    service: str | None = None
    peers: dict[str, dict[str, str]] = field(default_factory=dict)
    deployed: dict[str, DeploySection] = field(default_factory=dict)  # each deployed service's section, by name
    # The whole project's config, when `config` is one service's view of it (the record's git section covers all).
    project_config: Config | None = None

    def share(self, url: str, host: str | None = None) -> None:
        """In a project of several services: how the services deployed after this one reach it, for
        `{services.NAME.url}` and `.host` in their env (its URL's host unless `host` says otherwise). An empty URL
        says they cannot: a dependent's reference then fails naming this service."""
        if self.service is None:
            return
        from urllib.parse import urlsplit

        self.peers[self.service] = {"url": url, "host": host or urlsplit(url).netloc} if url else {}

    def log(self, phase: str, message: str) -> None:
        self.on_event(Event("log", phase, message, service=self.service))

    def artifact(self, suffix: str) -> Path:
        """`NNNN.SUFFIX` beside the record, or `NNNN.SERVICE.SUFFIX` when several services each write one."""
        return self.store.artifact_path(self.number, f"{self.service}.{suffix}" if self.service else suffix)

    def git(self) -> dict[str, Any]:
        """The record's `git` section, asked once per iteration: a phase that names the commit reads it here."""
        if "git" not in self.memo:
            whole = self.project_config or self.config
            excluded = [whole.path(whole.iterations_dir)]  # records and reports are outputs
            self.memo["git"] = git_info(whole.base_dir, watched_inputs(whole), excluded)
        return dict(self.memo["git"])


class Phase(Protocol):
    name: str

    def run(self, ctx: Context) -> PhaseResult: ...


def build_contexts(config: Config) -> dict[str, Path]:
    """Each service's build context by service name (one service: named after the project)."""
    from loopctl.config.services import service_views

    return {
        view.name: view.config.path(view.config.build.context)
        for view in service_views(config)
        if view.config.build is not None
    }


def watched_inputs(config: Config) -> list[Path]:
    return watched_paths(config.base_dir, list(build_contexts(config).values()), config.config_file)


def internal_error(err: BaseException) -> ErrorInfo:
    """An unexpected exception as a phase's error: its type, its message (redacted, one line) and where it rose."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = one_line(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
    return ErrorInfo(
        kind=ErrorKind.INTERNAL_ERROR,
        message=f"{message}{where}",
        hint="loopctl did not expect this: the record is complete up to here; please report it with this message",
    )
