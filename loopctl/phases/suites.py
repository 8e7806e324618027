"""The suites phase: external test commands whose JUnit XML says what passed."""

from __future__ import annotations

import shlex
import signal
import subprocess
import tempfile
from pathlib import Path

from loopctl.config import SuiteConfig
from loopctl.errors import ErrorKind
from loopctl.outside_text import clip, lines, one_line
from loopctl.phases.base import Context, PhaseResult
from loopctl.phases.junit_read import JunitCounts, read_junit
from loopctl.phases.suite_process import SuiteProcess, described
from loopctl.records.record import ErrorInfo, SuiteRecord
from loopctl.records.store import write_atomic

# What a record keeps of a suite's JUnit failures: the rest is in the suite's log and its own report.
FAILURES_KEPT = 50
TEST_NAME_LIMIT = 200
FAILURE_MESSAGE_LIMIT = 2000


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
        log = ctx.store.artifact_path(ctx.number, suite.log_suffix)
        with tempfile.TemporaryDirectory(prefix="loopctl-junit-") as folder:
            junit = Path(folder) / "junit.xml"
            command = suite.command.replace("{junit}", shlex.quote(str(junit)))
            cwd = ctx.config.path(suite.cwd) if suite.cwd else ctx.config.base_dir
            returncode, left = self._run_command(ctx, suite, command, cwd, log)
            if returncode is None:
                broken = _broken(
                    suite, ErrorKind.TIMEOUT, f"did not finish in {suite.timeout:g}s (log: {log.name})", None
                )
                return _with_left(broken, left)
            counts = read_junit(junit) if junit.exists() else None
        if counts is None:
            message = f"{exit_described(returncode)} and wrote no JUnit XML (log: {log.name})"
            return _with_left(_broken(suite, ErrorKind.NO_JUNIT, message, returncode), left)
        return _with_left(_record(suite, counts, returncode), left)

    def _run_command(
        self, ctx: Context, suite: SuiteConfig, command: str, cwd: Path, log: Path
    ) -> tuple[int | None, list[str]]:
        """Its exit code (None: timed out) and what it left running; on Ctrl-C too, nothing it started outlives it."""
        running = SuiteProcess(command, cwd=cwd)
        returncode: int | None = None
        left: list[str] = []
        try:
            returncode = running.wait(suite.timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:
            left = running.end()
            # The suite's output is kept whatever happened to it: a timed-out suite's log says where it hung.
            write_atomic(log, lines(running.output.text()))
        if running.output.dropped:
            ctx.log(self.name, f"{suite.name}: {log.name} keeps the start and end of its output, not all of it")
        if left:
            ctx.log(self.name, f"{suite.name}: {described(left)}")
        return returncode, left


def _record(suite: SuiteConfig, counts: JunitCounts, exit_code: int) -> SuiteRecord:
    failures = [
        {"test": one_line(test, TEST_NAME_LIMIT), "message": clip(lines(message).strip(), FAILURE_MESSAGE_LIMIT)}
        for test, message in counts.failures[:FAILURES_KEPT]
    ]
    return SuiteRecord.model_validate(
        {
            "name": suite.name,
            "priority": suite.priority,
            "passed": counts.passed,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "exit_code": exit_code,
            "failures": failures,
            "error": _junit_error(counts) or _exit_error(suite, counts, exit_code),
        }
    )


def _junit_error(counts: JunitCounts) -> dict[str, str] | None:
    return {"kind": ErrorKind.JUNIT, "message": one_line(counts.error)} if counts.error else None


def _exit_error(suite: SuiteConfig, counts: JunitCounts, exit_code: int) -> dict[str, str] | None:
    """A non-zero exit fails the suite whatever its JUnit says (`pytest … && ./e2e.sh` with e2e.sh failing).

    Exit 1 with failures listed is the usual "tests failed": the failures say it all. Any other non-zero exit is
    named, with the signal when it is one.
    """
    if exit_code == 0 or (exit_code == 1 and counts.failed):
        return None
    junit = f"{counts.passed} passed, {counts.failed} failed, {counts.skipped} skipped"
    return {
        "kind": ErrorKind.EXIT_CODE,
        "message": f"{suite.name}: {exit_described(exit_code)}, though its JUnit XML says {junit}",
        "hint": "a suite passes only when its command exits 0: run it by hand and read its log; "
        "in `a && b` or `a; b` the last command that ran decides",
    }


def exit_described(exit_code: int) -> str:
    """`exited with code 3`, `was killed by SIGSEGV`, `exited with code 139 (128 + SIGSEGV: …)`."""
    if exit_code < 0:
        return f"was killed by {_signal_name(-exit_code)}"
    if exit_code > 128 and _signal_name(exit_code - 128).startswith("SIG"):
        name = _signal_name(exit_code - 128)
        return f"exited with code {exit_code} (128 + {name}: a process it ran was killed by {name})"
    return f"exited with code {exit_code}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _with_left(record: SuiteRecord, left: list[str]) -> SuiteRecord:
    return record.model_copy(update={"left_running": left}) if left else record


def _broken(suite: SuiteConfig, kind: ErrorKind, message: str, exit_code: int | None) -> SuiteRecord:
    hint = "run the suite's command by hand; `{junit}` in it is replaced by the JUnit XML path"
    return SuiteRecord(
        name=suite.name,
        priority=suite.priority,
        exit_code=exit_code,
        error=ErrorInfo(kind=kind, message=f"{suite.name}: {message}", hint=hint),
    )
