"""A suite's verdict is its exit code and its JUnit together: a non-zero exit fails it, no test run says nothing."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.reliability.harness import (
    EXIT_CHECKS,
    EXIT_INCONCLUSIVE,
    assert_complete,
    assert_no_traceback,
    iterate,
    iterations,
    write_config,
)

PASSING = (
    '<testsuite tests="2"><testcase classname="e2e" name="one"/><testcase classname="e2e" name="two"/></testsuite>'
)
ALL_SKIPPED = (
    '<testsuite tests="2" skipped="2"><testcase classname="e2e" name="one"><skipped/></testcase>'
    '<testcase classname="e2e" name="two"><skipped/></testcase></testsuite>'
)
NONE_RUN = '<testsuite name="pytest" tests="0" errors="0" failures="0" skipped="0"/>'


def suite_config(folder: Path, junit: str, then: str) -> None:
    """One suite whose command writes this JUnit XML, then does `then` (`exit 3`, `kill -SEGV $$`…)."""
    (folder / "result.xml").write_text(junit, encoding="utf-8")
    write_config(folder, f'project: suites\nsuites:\n  - name: e2e\n    command: "cp result.xml {{junit}}; {then}"\n')


@pytest.mark.parametrize(
    ("then", "named"),
    [
        pytest.param("exit 3", "exited with code 3", id="exit-3"),
        pytest.param("exit 1", "exited with code 1", id="exit-1"),
        pytest.param("exit 139", "exited with code 139 (128 + SIGSEGV", id="exit-139"),
        pytest.param("kill -SEGV $$", "was killed by SIGSEGV", id="real-segfault"),
    ],
)
def test_a_suite_that_exits_non_zero_has_failed_and_its_junit_is_still_shown(
    tmp_path: Path, then: str, named: str
) -> None:
    suite_config(tmp_path, PASSING, then)
    done = iterate(tmp_path, "--ci", "--json", "--junit-xml", str(tmp_path / "junit.xml"))
    assert done.returncode == EXIT_CHECKS, done.stderr
    assert_no_traceback(done.stderr)
    record = assert_complete(tmp_path, 1, status="failed", phases=[("suites", "failed")])
    assert json.loads(done.stdout) == record
    (suite,) = record["suites"]
    assert (suite["passed"], suite["failed"], suite["error"]["kind"]) == (2, 0, "exit_code"), suite
    assert named in suite["error"]["message"] and "2 passed" in suite["error"]["message"]
    assert f"iteration 1: failed — e2e: {named}" in done.stderr
    report = (iterations(tmp_path) / "0001.md").read_text()
    assert "- **Result**: 2 passed, 0 failed, 0 skipped (exit code" in report and named in report
    assert "| Priority 1 | 2/3 (67%) |" in report  # the command's own failure counts against the pass rate
    cases = ET.parse(tmp_path / "junit.xml").getroot().findall(".//testsuite[@name='e2e']/testcase")
    assert [case.attrib["name"] for case in cases] == ["2 passed", "e2e"]
    error = cases[1].find("error")
    assert error is not None and error.attrib["type"] == "exit_code"


def test_a_suite_whose_tests_fail_with_exit_1_is_not_also_blamed_for_its_exit_code(tmp_path: Path) -> None:
    failing = '<testsuite><testcase classname="e2e" name="one"><failure message="boom"/></testcase></testsuite>'
    suite_config(tmp_path, failing, "exit 1")
    done = iterate(tmp_path, "--ci")
    assert done.returncode == EXIT_CHECKS, done.stderr
    record = assert_complete(tmp_path, 1, status="failed", phases=[("suites", "failed")])
    assert (record["suites"][0]["failed"], record["suites"][0]["error"]) == (1, None)
    assert "iteration 1: failed — suite e2e: 1 test(s) failed" in done.stderr


@pytest.mark.parametrize(
    ("junit", "skipped"), [pytest.param(ALL_SKIPPED, 2, id="all-skipped"), pytest.param(NONE_RUN, 0, id="no-test")]
)
def test_a_suite_that_ran_no_test_is_inconclusive(tmp_path: Path, junit: str, skipped: int) -> None:
    suite_config(tmp_path, junit, "exit 0")
    done = iterate(tmp_path, "--ci", "--json")
    assert done.returncode == EXIT_INCONCLUSIVE, done.stderr
    record = assert_complete(tmp_path, 1, status="inconclusive", phases=[("suites", "ok")])
    assert json.loads(done.stdout)["status"] == "inconclusive"
    assert f"iteration 1: inconclusive — e2e ran no test ({skipped} skipped)" in done.stderr
    assert "no checks ran" not in done.stderr
    report = (iterations(tmp_path) / "0001.md").read_text()
    assert f"**Inconclusive**: e2e ran no test ({skipped} skipped); a suite that ran no test is not a pass." in report
    assert record["suites"][0]["error"] is None


def test_no_test_collected_with_exit_5_is_a_failure_naming_the_exit_code(tmp_path: Path) -> None:
    """pytest's exit 5 (no tests collected): the command said it failed, so the suite failed."""
    suite_config(tmp_path, NONE_RUN, "exit 5")
    done = iterate(tmp_path, "--ci")
    assert done.returncode == EXIT_CHECKS, done.stderr
    record = assert_complete(tmp_path, 1, status="failed", phases=[("suites", "failed")])
    assert "exited with code 5, though its JUnit XML says 0 passed" in record["suites"][0]["error"]["message"]


def test_skipping_configured_suites_is_inconclusive_never_success(tmp_path: Path) -> None:
    suite_config(tmp_path, PASSING, "exit 0")
    skipped = iterate(tmp_path, "--ci", "--skip", "suites")
    ran = iterate(tmp_path, "--ci")
    assert (skipped.returncode, ran.returncode) == (EXIT_INCONCLUSIVE, 0), skipped.stderr
    assert_complete(tmp_path, 1, status="inconclusive", phases=[("suites", "skipped")])
    assert "iteration 1: inconclusive — the suites were skipped by --skip" in skipped.stderr
    assert "**Inconclusive**: the suites were skipped by --skip" in (iterations(tmp_path) / "0001.md").read_text()
    second = assert_complete(tmp_path, 2, status="success", phases=[("suites", "ok")])
    assert second["previous"] is None
    assert "iteration 2: success — 2 suite test(s) passed" in ran.stderr
    assert "no checks ran" not in skipped.stderr + ran.stderr


def test_the_status_line_names_the_phase_that_stopped_the_iteration(tmp_path: Path) -> None:
    suite_config(tmp_path, PASSING, "exit 0")
    config = (tmp_path / "config.yaml").read_text()
    write_config(tmp_path, config + "build: {context: nowhere, image: 127.0.0.1:9/x}\n")
    done = iterate(tmp_path, "--ci")
    assert done.returncode == 2, done.stderr  # a context that is not a folder is the config's fault
    assert f"iteration 1: failed — build failed: build.context {tmp_path / 'nowhere'} is not a folder" in done.stderr
    assert "no checks ran" not in done.stderr
