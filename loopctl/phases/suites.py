"""The suites phase: external test commands whose JUnit XML says what passed."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
from pathlib import Path

from loopctl.config import SuiteConfig
from loopctl.outside import clip, lines, one_line
from loopctl.phases.junit_read import JunitCounts, read_junit
from loopctl.records.record import ErrorInfo, SuiteRecord
from loopctl.records.store import write_atomic
from loopctl.runner import Context, PhaseResult

# What a record keeps of a suite's JUnit failures: the rest is in the suite's log and its own report.
FAILURES_KEPT = 50
TEST_NAME_LIMIT = 200
FAILURE_MESSAGE_LIMIT = 2000
_KILL_GRACE = 2.0


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
            output = Path(folder) / "output.log"
            command = suite.command.replace("{junit}", shlex.quote(str(junit)))
            cwd = ctx.config.path(suite.cwd) if suite.cwd else ctx.config.base_dir
            try:
                returncode = run_in_own_group(command, cwd=cwd, output=output, timeout=suite.timeout)
            except subprocess.TimeoutExpired:
                returncode = None
            finally:
                # The suite's output is kept whatever happened to it: a timed-out suite's log says where it hung.
                if output.exists():
                    write_atomic(log, lines(output.read_text(encoding="utf-8", errors="replace")))
            if returncode is None:
                return _broken(suite, "timeout", f"did not finish in {suite.timeout:g}s (log: {log.name})", None)
            counts = read_junit(junit) if junit.exists() else None
        if counts is None:
            return _broken(
                suite, "no_junit", f"{exit_described(returncode)} and wrote no JUnit XML (log: {log.name})", returncode
            )
        return _record(suite, counts, returncode)


def run_in_own_group(command: str, *, cwd: Path, output: Path, timeout: float) -> int:
    """Run `/bin/sh -c COMMAND` in a process group of its own; on timeout or Ctrl-C the whole group is killed.

    Killing only the shell would leave what it started running (a test server, a browser), holding the
    output open and the machine busy after loopctl has moved on.
    """
    with output.open("wb") as sink:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return process.wait(timeout=timeout)
        except BaseException:  # the timeout, Ctrl-C, SIGTERM (as KeyboardInterrupt)
            _end_group(process)
            raise


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group, a moment to clean up, then SIGKILL to whatever of it is left (the shell may be gone)."""
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_KILL_GRACE)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


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
    return {"kind": "junit", "message": one_line(counts.error)} if counts.error else None


def _exit_error(suite: SuiteConfig, counts: JunitCounts, exit_code: int) -> dict[str, str] | None:
    """A non-zero exit fails the suite whatever its JUnit says (`pytest … && ./e2e.sh` with e2e.sh failing).

    Exit 1 with failures listed is the usual "tests failed": the failures say it all. Any other non-zero exit is
    named, with the signal when it is one.
    """
    if exit_code == 0 or (exit_code == 1 and counts.failed):
        return None
    junit = f"{counts.passed} passed, {counts.failed} failed, {counts.skipped} skipped"
    return {
        "kind": "exit_code",
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


def _broken(suite: SuiteConfig, kind: str, message: str, exit_code: int | None) -> SuiteRecord:
    hint = "run the suite's command by hand; `{junit}` in it is replaced by the JUnit XML path"
    return SuiteRecord(
        name=suite.name,
        priority=suite.priority,
        exit_code=exit_code,
        error=ErrorInfo(kind=kind, message=f"{suite.name}: {message}", hint=hint),
    )
