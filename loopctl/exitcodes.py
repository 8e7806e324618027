"""Every exit code loopctl returns, in one place."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, as documented in the README."""

    OK = 0
    CHECKS_FAILED = 1
    USAGE = 2
    BUILD_OR_PUSH_FAILED = 3
    DEPLOY_FAILED = 4
    INTERRUPTED = 130


def for_record(status: str, failed_phase: str | None, *, fail_on: str = "any") -> ExitCode:
    """Reduce an iteration to its exit code; `fail_on` decides which statuses fail a CI step."""
    if status == "aborted":
        return ExitCode.INTERRUPTED
    if failed_phase in ("build", "push"):
        return ExitCode.BUILD_OR_PUSH_FAILED
    if failed_phase in ("deploy", "release"):
        return ExitCode.DEPLOY_FAILED
    if status == "success" or fail_on == "never":
        return ExitCode.OK
    if fail_on == "regression":
        return ExitCode.CHECKS_FAILED if status == "regression" else ExitCode.OK
    return ExitCode.CHECKS_FAILED
