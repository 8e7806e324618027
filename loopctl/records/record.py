"""The iteration record: one JSON file per iteration, the single source for reports and history."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loopctl.probe.classify import Outcome

# 2: checks carry trace_id, started_at, finished_at, server_error; the record carries `changes`; git a tree.
RECORD_SCHEMA = 2

Status = Literal["success", "progress", "no_change", "regression", "failed", "aborted"]
PhaseStatus = Literal["ok", "failed", "skipped", "aborted"]
PHASE_ORDER = ("build", "push", "deploy", "probe", "suites", "release")
GATING_PHASES = ("build", "push", "deploy")


class _Model(BaseModel):
    # Records written by newer versions may carry fields this one does not know: keep reading them.
    model_config = ConfigDict(extra="allow", frozen=True)


class ErrorInfo(_Model):
    kind: str
    message: str
    hint: str = ""


class PhaseRecord(_Model):
    name: str
    status: PhaseStatus
    duration_s: float = 0.0
    detail: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None


class GitInfo(_Model):
    branch: str | None = None
    commit: str | None = None
    dirty: bool = False
    tree: str | None = None  # the build context and config as git saw them, uncommitted files included

    @property
    def short(self) -> str | None:
        """`217a6c7+` for a dirty tree: two iterations on one commit are told apart."""
        if not self.commit:
            return None
        return self.commit[:7] + ("+" if self.dirty else "")


class ServerErrorRecord(_Model):
    """The error the service logged during a check: exception type, message, where, and the excerpt."""

    type: str
    message: str = ""
    location: str | None = None
    lines: list[str] = Field(default_factory=list)


class FileChange(_Model):
    path: str
    added: int | None = None  # None: a binary file
    removed: int | None = None


class Changes(_Model):
    """What changed between the iteration compared with and this one."""

    since: int
    in_git: bool = True
    from_commit: str | None = None
    to_commit: str | None = None
    commits: list[str] = Field(default_factory=list)
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
        return self.category == "success"

    @classmethod
    def of(cls, outcome: Outcome) -> OutcomeRecord:
        return cls(**outcome.to_dict())


class CheckRecord(_Model):
    name: str
    priority: int = 1
    kind: str
    url: str = ""
    impact: str | None = None
    passed: bool
    outcome: OutcomeRecord
    events_expected: list[str] = Field(default_factory=list)
    events_seen: list[str] = Field(default_factory=list)
    events_missing: list[str] = Field(default_factory=list)
    latency_ms: dict[str, float | None] = Field(default_factory=dict)
    frames_ignored: int = 0
    load: dict[str, Any] | None = None
    trace_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    server_error: ServerErrorRecord | None = None


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

    @property
    def green(self) -> bool:
        return self.failed == 0 and self.error is None


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
    build: dict[str, Any] | None = None
    push: dict[str, Any] | None = None
    deploy: dict[str, Any] | None = None
    checks: list[CheckRecord] = Field(default_factory=list)
    suites: list[SuiteRecord] = Field(default_factory=list)
    outcome: OutcomeRecord | None = None
    changes: Changes | None = None

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    def phase(self, name: str) -> PhaseRecord | None:
        return next((phase for phase in self.phases if phase.name == name), None)

    @property
    def probed(self) -> bool:
        """Whether the probe ran (so this record can anchor a comparison)."""
        probe = self.phase("probe")
        return probe is not None and probe.status in ("ok", "failed") and bool(self.checks)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
