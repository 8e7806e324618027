"""Every exit code loopctl returns, in one place."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from loopctl.errors import ErrorKind

if TYPE_CHECKING:
    from loopctl.records.record import Record

# Error kinds that mean the user's input is wrong (a config value, a secret reference), wherever they surface.
USAGE_KINDS = frozenset({ErrorKind.USAGE, ErrorKind.SECRET, ErrorKind.STORE})


class ExitCode(IntEnum):
    """Process exit codes, as documented in docs/probe-and-outcomes.md."""

    OK = 0
    CHECKS_FAILED = 1
    USAGE = 2
    BUILD_OR_PUSH_FAILED = 3
    DEPLOY_FAILED = 4
    INCONCLUSIVE = 5
    INTERRUPTED = 130


def for_record(record: Record, *, fail_on: str = "any") -> ExitCode:
    """Reduce an iteration to its exit code; `fail_on` decides which statuses fail a CI step.

    A usage error (a secret reference that cannot be read, a check with no URL) is 2 whatever `fail_on` says,
    as it is before an iteration starts; an inconclusive iteration fails unless `fail_on` is `never`: nothing
    shows it did not regress.
    """
    status = record.status
    if status == "aborted":
        return ExitCode.INTERRUPTED
    errors = [phase.error for phase in record.phases] + [check.error for check in record.checks]
    if any(error is not None and error.kind in USAGE_KINDS for error in errors):
        return ExitCode.USAGE
    failed_phase = next((phase.name for phase in record.phases if phase.status == "failed"), None)
    if failed_phase in ("build", "push"):
        return ExitCode.BUILD_OR_PUSH_FAILED
    if failed_phase in ("deploy", "release"):
        return ExitCode.DEPLOY_FAILED
    if status == "success" or fail_on == "never":
        return ExitCode.OK
    if status == "inconclusive":
        return ExitCode.INCONCLUSIVE
    if fail_on == "regression":
        return ExitCode.CHECKS_FAILED if status == "regression" else ExitCode.OK
    return ExitCode.CHECKS_FAILED
