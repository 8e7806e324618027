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
