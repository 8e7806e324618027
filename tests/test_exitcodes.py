"""Exit codes reduced from a record: one place, every status."""

from __future__ import annotations

import pytest

from loopctl.exitcodes import ExitCode, for_record
from loopctl.records.record import Record
from tests.support.records import http_check, make_record, phases

SECRET_ERROR = {"kind": "secret", "message": "environment variable T is not set"}
NOT_RUN = {**http_check("chat"), "passed": False, "outcome": {"category": "not_run", "depth": 0}, "error": SECRET_ERROR}


def record(status: str, **fields: object) -> Record:
    return make_record(1, status, checks=[http_check()], **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("built", "fail_on", "code"),
    [
        (record("success"), "any", ExitCode.OK),
        (record("failed"), "any", ExitCode.CHECKS_FAILED),
        (record("progress"), "regression", ExitCode.OK),
        (record("regression"), "regression", ExitCode.CHECKS_FAILED),
        (record("inconclusive"), "any", ExitCode.INCONCLUSIVE),
        (record("inconclusive"), "regression", ExitCode.INCONCLUSIVE),  # nothing shows it did not regress
        (record("inconclusive"), "never", ExitCode.OK),
        (make_record(1, "inconclusive", checks=[NOT_RUN]), "never", ExitCode.USAGE),  # a bad secret reference
        (record("failed", phase_rows=phases(push={"status": "failed"})), "any", ExitCode.BUILD_OR_PUSH_FAILED),
        (record("failed", phase_rows=phases(deploy={"status": "failed"})), "any", ExitCode.DEPLOY_FAILED),
        (
            record("failed", phase_rows=phases(deploy={"status": "failed", "error": SECRET_ERROR})),
            "any",
            ExitCode.USAGE,
        ),
        (make_record(1, "aborted", checks=[NOT_RUN]), "any", ExitCode.INTERRUPTED),
    ],
)
def test_the_exit_code_of_each_kind_of_iteration(built: Record, fail_on: str, code: ExitCode) -> None:
    assert for_record(built, fail_on=fail_on) == code
