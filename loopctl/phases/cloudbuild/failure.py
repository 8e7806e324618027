"""A finished Cloud Build that did not succeed, told in one line with the failing step and its last words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loopctl import outside_text
from loopctl.config import CloudBuildConfig
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.evidence.toolchain import cause_line
from loopctl.phases.cloudbuild.logs import LogTail, clean, last_dockerfile_step, meaningful_tail
from loopctl.phases.docker.build import build_error

QUOTED_LIMIT = 200  # a quoted log line
DETAIL_LIMIT = 300  # Cloud Build's status detail
PUSH_ROLE = "roles/artifactregistry.writer"
DEFAULT_ACCOUNT = (
    "the build's service account (PROJECT_NUMBER-compute@developer.gserviceaccount.com for projects made since 2024, "
    "PROJECT_NUMBER@cloudbuild.gserviceaccount.com before)"
)
_PUSH_FAILURES = ("PUSH_FAILED", "PUSH_NOT_AUTHORIZED", "PUSH_IMAGE_NOT_FOUND")
_DENIED_WORDS = ("denied", "unauthorized", "forbidden", "permission", "authentication required", "no basic auth")


def build_failure(
    build: Any,
    tail: LogTail,
    config: CloudBuildConfig,
    *,
    log_name: str = "NNNN.build.log",
    default_account: Callable[[], str] = lambda: "",
) -> LoopctlError:
    """The error for a build whose status is not SUCCESS; `log_name` is the file the whole log was saved to, and
    `default_account` reads the project's default build account, asked only when a hint must name the account the
    build ran as."""
    status = build.status.name
    detail = one_line(str(build.status_detail or ""))
    where = f"Cloud Build {build.id}"
    if status == "TIMEOUT":
        return LoopctlError(
            f"{where} timed out: {detail or 'it ran longer than build.cloudbuild.timeout'}",
            hint="raise build.cloudbuild.timeout, or give it a bigger machine_type",
            kind=ErrorKind.BUILD_TIMEOUT,
        )
    if status == "EXPIRED":
        return LoopctlError(
            f"{where} never left the queue: {detail or 'it waited longer than its queue_ttl'}",
            hint="Cloud Build had no worker for it within build.cloudbuild.timeout: run again, or use a worker_pool",
            kind=ErrorKind.BUILD_TIMEOUT,
        )
    if status == "CANCELLED":
        return LoopctlError(f"{where} was cancelled outside loopctl", hint="run again", kind=ErrorKind.BUILD)
    failure_type = build.failure_info.type_.name if "failure_info" in build else ""
    if failure_type == "FETCH_SOURCE_FAILED":
        return source_failure(build, detail, _account(build, config, default_account))
    if failure_type in _PUSH_FAILURES or (_pushing(build) and _denied(detail)):
        return push_failure(build, detail, _account(build, config, default_account))
    if status == "INTERNAL_ERROR":
        return LoopctlError(f"{where} failed inside Cloud Build: {detail}", hint="run again", kind=ErrorKind.BUILD)
    return step_failure(build, tail, detail, log_name=log_name)


def step_failure(build: Any, tail: LogTail, detail: str, *, log_name: str = "NNNN.build.log") -> LoopctlError:
    """Name the failing step and the Dockerfile instruction, quote its last meaningful lines; the hint as locally."""
    index, step = next(
        ((index, step) for index, step in enumerate(build.steps) if step.status.name in ("FAILURE", "TIMEOUT")),
        (-1, None),
    )
    lines = tail.step_lines(index) if index >= 0 else tail.lines
    quoted = [outside_text.one_line(line, QUOTED_LIMIT) for line in meaningful_tail(lines)]
    name = f'"{step.id}" (#{index})' if step is not None and step.id else f"#{index}"
    instruction = last_dockerfile_step(lines)
    reason = quoted[-1] if quoted else detail or "the build failed"
    local = build_error(instruction, reason, log_name=log_name)
    first = f"Cloud Build step {name} failed: {local.message}" if index >= 0 else f"Cloud Build failed: {reason}"
    cause = cause_line(lines)  # the toolchain's own error line, wherever it is in the step's output
    if cause is not None and cause != reason:
        first = f"{first} — {outside_text.one_line(cause, QUOTED_LIMIT)}"
    return LoopctlError("\n".join([first, *quoted]), hint=local.hint, kind=ErrorKind.BUILD)


def _account(build: Any, config: CloudBuildConfig, default_account: Callable[[], str]) -> str:
    """The account the build ran as: named in the config or the build, else the project's default."""
    named = config.service_account or (str(build.service_account).rsplit("/", 1)[-1] if build.service_account else "")
    return named or default_account()


def source_failure(build: Any, detail: str, account: str) -> LoopctlError:
    """Cloud Build fetches the source as the build's account: it needs storage.objects.get on the source bucket."""
    who = account or DEFAULT_ACCOUNT
    source = build.source.storage_source
    where = f"gs://{source.bucket}" if source.bucket else "the source bucket"
    info = one_line(str(build.failure_info.detail)) if "failure_info" in build else ""
    return LoopctlError(
        f"Cloud Build {build.id} could not fetch its source: {info or detail}",
        hint=f"grant {who} storage.objects.get on {where} (roles/storage.objectViewer)",
        kind=ErrorKind.SOURCE_DENIED,
    )


def push_failure(build: Any, detail: str, account: str) -> LoopctlError:
    """Cloud Build pushes as its own service account: name it, and the role that lets it push."""
    who = account or DEFAULT_ACCOUNT
    info = one_line(str(build.failure_info.detail)) if "failure_info" in build else ""
    reason = info or detail
    return LoopctlError(
        f"Cloud Build could not push the image as {who}: {reason}",
        hint=f"grant {who} {PUSH_ROLE} on the repository in build.image (or the registry's equivalent)",
        kind=ErrorKind.PUSH_DENIED,
    )


def one_line(text: str) -> str:
    """Cloud Build's words as display text: redacted, escape sequences and control characters gone, clipped."""
    return outside_text.one_line(" ".join(clean(line) for line in text.splitlines()), DETAIL_LIMIT)


def _pushing(build: Any) -> bool:
    return all(step.status.name in ("SUCCESS", "STATUS_UNKNOWN") for step in build.steps)


def _denied(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _DENIED_WORDS)
