"""The suites phase: external test commands whose JUnit XML says what passed."""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from pathlib import Path

from loopctl.config import SuiteConfig
from loopctl.phases.junit_read import JunitCounts, read_junit
from loopctl.records.record import ErrorInfo, SuiteRecord
from loopctl.records.store import write_atomic
from loopctl.runner import Context, PhaseResult
from loopctl.secrets import redact


class SuitesPhase:
    name = "suites"

    def run(self, ctx: Context) -> PhaseResult:
        records = tuple(self._run_one(ctx, suite) for suite in ctx.config.suites)
        green = all(record.green for record in records)
        passed = sum(record.passed for record in records)
        failed = sum(record.failed for record in records)
        return PhaseResult("ok" if green else "failed", {"passed": passed, "failed": failed}, suites=records)

    def _run_one(self, ctx: Context, suite: SuiteConfig) -> SuiteRecord:
        ctx.log(self.name, f"{suite.name}: running")
        with tempfile.TemporaryDirectory(prefix="loopctl-junit-") as folder:
            junit = Path(folder) / "junit.xml"
            command = suite.command.replace("{junit}", shlex.quote(str(junit)))
            cwd = ctx.config.path(suite.cwd) if suite.cwd else ctx.config.base_dir
            try:
                done = subprocess.run(
                    ["/bin/sh", "-c", command],
                    cwd=cwd,
                    capture_output=True,
                    text=True,
                    timeout=suite.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return _broken(suite, "timeout", f"did not finish in {suite.timeout:g}s", None)
            log = ctx.store.artifact_path(ctx.number, f"suite-{_slug(suite.name)}.log")
            write_atomic(log, redact(done.stdout + done.stderr))
            counts = read_junit(junit) if junit.exists() else None
        if counts is None:
            return _broken(
                suite, "no_junit", f"exited {done.returncode} and wrote no JUnit XML (log: {log.name})", done.returncode
            )
        return _record(suite, counts, done.returncode)


def _record(suite: SuiteConfig, counts: JunitCounts, exit_code: int) -> SuiteRecord:
    return SuiteRecord.model_validate(
        {
            "name": suite.name,
            "priority": suite.priority,
            "passed": counts.passed,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "exit_code": exit_code,
            "failures": [{"test": test, "message": redact(message)} for test, message in counts.failures],
            "error": {"kind": "junit", "message": counts.error} if counts.error else None,
        }
    )


def _broken(suite: SuiteConfig, kind: str, message: str, exit_code: int | None) -> SuiteRecord:
    hint = "run the suite's command by hand; `{junit}` in it is replaced by the JUnit XML path"
    return SuiteRecord(
        name=suite.name,
        priority=suite.priority,
        exit_code=exit_code,
        error=ErrorInfo(kind=kind, message=f"{suite.name}: {message}", hint=hint),
    )


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
