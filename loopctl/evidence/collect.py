"""Read the deployed service's logs around each failing check and attach the error found there to the check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopctl.config import Config
from loopctl.errors import LoopctlError
from loopctl.evidence.cause import cause
from loopctl.evidence.extract import MESSAGE_LIMIT, LogLine, clean, extract
from loopctl.evidence.frames import BuildContext, repo_location
from loopctl.evidence.window import LogRead, LogSource, Window
from loopctl.probe.classify import DEPTH_AUTH
from loopctl.records.record import CheckRecord, ServerError
from loopctl.records.sections import DeploySection

EXIT_SETTLE_S = 0.2  # a process that just died is marked exited within milliseconds; never waited longer


@dataclass(frozen=True)
class Evidence:
    """The checks with their `server_error` filled in, and what the report says about the logs themselves."""

    checks: tuple[CheckRecord, ...]
    detail: dict[str, Any]


def collect(config: Config, deploy: DeploySection, checks: Sequence[CheckRecord]) -> Evidence:
    """Never raises for a log that cannot be read: the detail says why instead."""
    failing = _windows(checks)
    if not failing:
        return Evidence(tuple(checks), {})
    source = source_for(config, deploy)
    if source is None:
        target = deploy.target or "url"
        return Evidence(tuple(checks), {"read": False, "note": f"the {target} target has no server log to read"})

    def enough(lines: Sequence[LogLine]) -> bool:
        return all(extract([line for line in lines if window.holds(line)]) for window in failing.values())

    try:
        read = source.read(Window.union(list(failing.values())), enough=enough)
    except LoopctlError as err:
        return Evidence(tuple(checks), {"read": False, "note": clean(err.message)})
    dropped = any(_dropped(check) for check in checks if not check.passed)
    detail = _detail(read) | _process(deploy, read, dropped=dropped)
    context = BuildContext.of(config)
    return Evidence(tuple(_with_error(check, read, failing.get(check.name), context) for check in checks), detail)


def source_for(config: Config, deploy: DeploySection) -> LogSource | None:
    """Where the deployed service logs: its container on the docker and compose targets, its revision on Cloud Run."""
    target = deploy.target
    if target in ("docker", "compose") and deploy.container_id:
        from loopctl.evidence.docker_logs import DockerLogs

        return DockerLogs(deploy.container_id, name=deploy.service or "")
    cloudrun = config.deploy.cloudrun if config.deploy is not None else None
    if target == "cloudrun" and cloudrun is not None and deploy.revision:
        from loopctl.evidence.cloud_logging import CloudRunLogs

        return CloudRunLogs(
            project=cloudrun.project,
            service=cloudrun.service,
            revision=deploy.revision,
            api_endpoint=cloudrun.logging_endpoint,
            wait_s=cloudrun.logs_wait_s,
        )
    return None


def _windows(checks: Sequence[CheckRecord]) -> dict[str, Window]:
    """Each failing check's window: from a second before it started to two seconds after it ended."""
    windows: dict[str, Window] = {}
    for check in checks:
        if not check.passed and check.started_at and check.finished_at:
            windows[check.name] = Window.around(check.started_at, check.finished_at)
    return windows


def _with_error(check: CheckRecord, read: LogRead, window: Window | None, context: BuildContext | None) -> CheckRecord:
    if window is None:
        return check
    found = error_for(check, [line for line in read.lines if window.holds(line)])
    if found is None:
        return check
    location = found.location
    if found.frame is not None and context is not None:
        location = repo_location(found.frame, context)  # the repo path the Changes table uses
    # The frame as printed stays out of the record.
    error = found.model_copy(update={"location": location, "frame": None})
    return check.model_copy(update={"server_error": error})


def error_for(check: CheckRecord, lines: Sequence[LogLine]) -> ServerError | None:
    """Lines that carry the check's own trace id speak for it first; else everything in its window. An exception
    is the answer when there is one; else the line that says why the server refused (a WARNING, its reason)."""
    traced = [line for line in lines if check.trace_id and line.trace and check.trace_id in line.trace]
    for chosen in (traced, lines) if traced else (lines,):
        found = extract(chosen) or cause(chosen, check.outcome.reason, refused=_refused(check))
        if found is not None:
            return found
    return None


def _refused(check: CheckRecord) -> bool:
    """Stopped at authentication: a 1008 or app code there, or a 401/403 at the upgrade or as the HTTP answer."""
    return check.outcome.depth == DEPTH_AUTH or check.outcome.code in (401, 403)


def unavailable(err: BaseException) -> str:
    """Why evidence could not be had, as one clean line: the error's type and its (outside) message."""
    said = clean(" ".join(str(err).split()), MESSAGE_LIMIT)
    return f"{type(err).__name__}: {said}" if said else type(err).__name__


def _process(deploy: DeploySection, read: LogRead, *, dropped: bool) -> dict[str, Any]:
    """Whether the service's process outlived the checks (`process` when it did not): the docker container's
    state, or the platform's own line in the log."""
    from loopctl.evidence.process import container_end, platform_end

    if deploy.target != "docker" or not deploy.container_id:
        said = platform_end(read.lines)
        return {"process": said.to_dict()} if said is not None else {}

    try:
        ended = container_end(deploy.container_id, settle_s=EXIT_SETTLE_S if dropped else 0.0)
    except LoopctlError as err:
        return {"process_note": clean(err.message)}
    return {"process": ended.to_dict()} if ended is not None else {}


def _dropped(check: CheckRecord) -> bool:
    """The connection ended without an answer (no close frame, a reset): what a dying process leaves."""
    return check.outcome.code in (None, 1006)


def _detail(read: LogRead) -> dict[str, Any]:
    detail: dict[str, Any] = {"read": True, "source": clean(read.source), "lines": len(read.lines)}
    if read.note:
        detail["note"] = clean(read.note)
    if read.partial:
        detail["partial"] = clean(read.partial)
    return detail
