"""The iteration record: one JSON file per iteration, the single source for reports and history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loopctl.errors import ErrorKind
from loopctl.records.depth import passed_at
from loopctl.records.sections import BuildSection, DeploySection, PushSection, ReleaseSection

# 2: checks carry trace_id, started_at, finished_at, server_error; the record carries `changes`; git a tree.
# 3: a project of several services has `services` (each its own build, push, deploy, release), and its phases and
#    checks name their service; one service still writes the top-level sections.
RECORD_SCHEMA = 3

Status = Literal["success", "progress", "no_change", "regression", "failed", "inconclusive", "aborted"]
PhaseStatus = Literal["ok", "failed", "skipped", "aborted"]
PHASE_ORDER = ("build", "push", "deploy", "probe", "suites", "release")
GATING_PHASES = ("build", "push", "deploy")


class _Model(BaseModel):
    # Records written by newer versions may carry fields this one does not know: keep reading them.
    model_config = ConfigDict(extra="allow", frozen=True)


class ErrorInfo(_Model):
    # a member when loopctl knows the kind; a record from a newer loopctl may carry one it does not
    kind: ErrorKind | str = Field(union_mode="left_to_right")
    message: str
    hint: str = ""


class PhaseRecord(_Model):
    name: str
    service: str | None = None  # in a project of several services, whose phase this was
    status: PhaseStatus
    duration_s: float = 0.0
    detail: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None


# An object name, nothing else: a record's commit and tree are handed to git, so an edited record must not
# smuggle an option (`--output=…`) into its command line.
_OBJECT_NAME = r"^[0-9a-f]{4,64}$"


class GitInfo(_Model):
    branch: str | None = None
    branch_from: str | None = None  # the CI variable that named the branch of a detached checkout
    detached: bool = False
    commit: str | None = Field(None, pattern=_OBJECT_NAME)
    dirty: bool = False
    tree: str | None = Field(None, pattern=_OBJECT_NAME)  # the build context and config as git saw them
    large_files: list[str] = Field(default_factory=list)  # in the tree only by size and time: too big to hash

    @property
    def where(self) -> str:
        """`main`; `fix-auth (from GITHUB_HEAD_REF; detached at 217a6c7)`; `detached at 217a6c7`; or empty."""
        if not self.detached:
            return self.branch or ""
        detached = f"detached at {(self.commit or '')[:7]}"
        return f"{self.branch} (from {self.branch_from}; {detached})" if self.branch else detached

    @property
    def short(self) -> str | None:
        """`217a6c7+` for a dirty tree: two iterations on one commit are told apart."""
        if not self.commit:
            return None
        return self.commit[:7] + ("+" if self.dirty else "")


@dataclass(frozen=True)
class Frame:
    """A stack frame as the server printed it: the path in its container, line, and column and function if given."""

    path: str
    line: str
    column: str | None = None
    function: str | None = None


UNLEVELLED = "LOG"  # the type of a line quoted as why the server refused that names no level of its own
CAUSE_TYPES = (UNLEVELLED, "WARNING")  # a line quoted as the cause of a refusal, not an error the server had


class ServerError(_Model):
    """The error the service logged during a check: exception type, message, where (`app/handlers.py:42`), and
    the excerpt; `frame` is where, as printed, for mapping to a file of the repo (never written to the record)."""

    type: str
    message: str = ""
    location: str | None = None
    lines: tuple[str, ...] = ()
    frame: Frame | None = Field(None, exclude=True)


class FileChange(_Model):
    path: str
    service: str | None = None  # with several services, the one whose build context holds it
    added: int | None = None  # None: a binary file
    removed: int | None = None


class Changes(_Model):
    """What changed between the iteration compared with and this one."""

    since: int
    in_git: bool = True
    from_commit: str | None = None
    to_commit: str | None = None
    commits: list[str] = Field(default_factory=list)  # the newest subjects, at most 50
    commit_count: int | None = None  # commits since `from_commit`, all of them (None: older records)
    commits_back: int = 0  # commits of `from_commit` that this one does not have: a checkout of an older commit
    files: list[FileChange] = Field(default_factory=list)
    config_changed: list[str] | None = None
    input_changed: bool | None = None
    note: str = ""


class OutcomeRecord(_Model):
    code: int | None = None
    category: str
    depth: int
    label: str = ""
    reason: str = ""
    hint: str = ""
    origin: str | None = None

    @property
    def passed(self) -> bool:
        return passed_at(self.depth)


class LoadRecord(_Model):
    """A check run as a load probe: sessions, their outcomes by category, latency percentiles per measure."""

    concurrency: int = 0
    duration_s: float = 0.0
    sessions: int = 0
    failed: int = 0
    wall_s: float = 0.0
    outcomes: dict[str, int] = Field(default_factory=dict)
    latency_ms: dict[str, dict[str, float | None]] = Field(default_factory=dict)


class StepsRecord(_Model):
    """How far a conversation (`steps:`) got: steps done of the total, the step it stopped at, what came instead."""

    total: int
    done: int = 0
    reached: int = 1  # the step under way when it ended (1-based); the total once every step is done
    at: str = ""  # `expect agent_completed`
    mismatch: str | None = None  # `result.answer: "5", expected ^4$`: the nearest frame that did not fit
    instead: list[str] = Field(default_factory=list)  # the last frames that came instead, clipped and redacted
    captured: dict[str, str] = Field(default_factory=dict)  # values captured, clipped (redacted when secret)

    @property
    def where(self) -> str:
        """`step 3/7: expect agent_completed`, or `all 7 steps`."""
        return f"all {self.total} steps" if self.done >= self.total else f"step {self.reached}/{self.total}: {self.at}"


class CheckRecord(_Model):
    name: str
    service: str | None = None  # in a project of several services, the one it probes
    priority: int = 1
    kind: str
    url: str = ""
    impact: str | None = None
    passed: bool
    outcome: OutcomeRecord
    events_expected: list[str] = Field(default_factory=list)
    # A sample (the first and the last names) when more arrived than a record keeps; `events_count` counts them all.
    events_seen: list[str] = Field(default_factory=list)
    events_missing: list[str] = Field(default_factory=list)
    events_count: int | None = None
    latency_ms: dict[str, float | None] = Field(default_factory=dict)
    frames_ignored: int = 0
    load: LoadRecord | None = None
    trace_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    server_error: ServerError | None = None
    steps: StepsRecord | None = None  # checks with `steps:` (records before them have none)
    # Set when the check could not run (its token could not be read, its URL is unknown): its verdict is unknown.
    error: ErrorInfo | None = None
    # It got no answer at all (refused, reset) while the probe saw the service's process exit: a consequence of the
    # exit, set aside when the iteration is ranked (records before it have none).
    after_exit: bool = False
    # In a project of several services: what the services it depends on logged in its window (a TypeError in the
    # api beside the store's refusal that caused it), by service.
    dependency_errors: dict[str, ServerError] = Field(default_factory=dict)

    @property
    def ran(self) -> bool:
        return self.error is None


class SuiteFailure(_Model):
    test: str
    message: str = ""


class SuiteRecord(_Model):
    name: str
    priority: int = 1
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[SuiteFailure] = Field(default_factory=list)
    exit_code: int | None = None
    error: ErrorInfo | None = None
    left_running: list[str] = Field(default_factory=list)  # `PID COMMAND` of what it left behind, ended by loopctl

    @property
    def green(self) -> bool:
        """No failure counted, nothing broken, and the command said so too: a non-zero exit is a failure."""
        return self.failed == 0 and self.error is None and not self.exit_code

    @property
    def ran_no_test(self) -> bool:
        """It ended well and counted no test that ran (none listed, or all skipped): it verified nothing."""
        return self.green and self.passed == 0


class ServiceRecord(_Model):
    """One service's build, push, deploy and release, in a project of several."""

    depends_on: list[str] = Field(default_factory=list)
    build: BuildSection | None = None
    push: PushSection | None = None
    deploy: DeploySection | None = None
    release: ReleaseSection | None = None


class Record(_Model):
    """What one iteration did and found; fields may be added, never renamed without a migration."""

    schema_: int = Field(RECORD_SCHEMA, alias="schema")
    number: int
    project: str = ""
    started_at: str
    finished_at: str
    status: Status
    previous: int | None = None
    git: GitInfo = Field(default_factory=GitInfo)
    phases: list[PhaseRecord] = Field(default_factory=list)
    build: BuildSection | None = None
    push: PushSection | None = None
    deploy: DeploySection | None = None
    release: ReleaseSection | None = None  # Cloud Run only: where traffic went
    services: dict[str, ServiceRecord] | None = None  # several services: theirs, instead of the four above
    checks: list[CheckRecord] = Field(default_factory=list)
    suites: list[SuiteRecord] = Field(default_factory=list)
    outcome: OutcomeRecord | None = None
    changes: Changes | None = None

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    def phase(self, name: str) -> PhaseRecord | None:
        return next((phase for phase in self.phases if phase.name == name), None)

    @property
    def service_sections(self) -> dict[str, ServiceRecord]:
        """Each service's sections by name; a record of one service (and every record before schema 3) is one
        service named after the project."""
        if self.services is not None:
            return self.services
        one = ServiceRecord(build=self.build, push=self.push, deploy=self.deploy, release=self.release)
        return {self.project or "service": one}

    @property
    def probed(self) -> bool:
        """Whether the probe ran and gave a verdict (so this record can anchor a comparison)."""
        probed = any(phase.name == "probe" and phase.status in ("ok", "failed") for phase in self.phases)
        ran = probed and any(check.ran for check in self.checks)
        return ran and self.status != "inconclusive"

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
