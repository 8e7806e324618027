"""JUnit XML from records, read back by junitparser (what CI tools use) and by xml.etree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from junitparser import Error, Failure, JUnitXml, Skipped

from loopctl.records.record import Record
from loopctl.reports.junit import junit_xml
from tests.reliability.hostile import HOSTILE, HOSTILE_EVENT
from tests.support.records import all_events, hostile_record, http_check, make_record, story


def suites_by_name(document: str) -> dict[str, ET.Element]:
    return {suite.attrib["name"]: suite for suite in ET.fromstring(document.encode())}


def counts(element: ET.Element) -> tuple[int, int, int, int]:
    tests, failures, errors, skipped = (int(element.attrib[key]) for key in ("tests", "failures", "errors", "skipped"))
    return tests, failures, errors, skipped


def test_checks_become_testcases_and_a_failing_check_a_failure() -> None:
    document = junit_xml(story()[1])
    root = ET.fromstring(document.encode())
    assert root.tag == "testsuites"
    assert counts(root) == (5, 1, 0, 0)
    checks = suites_by_name(document)["loopctl.checks"]
    assert counts(checks) == (2, 1, 0, 0)
    health, chat = checks.findall("testcase")
    assert (health.attrib["classname"], health.attrib["time"], health.find("failure")) == (
        "loopctl.probe.p1",
        "0.012",
        None,
    )
    failure = chat.find("failure")
    assert failure is not None
    assert failure.attrib == {"message": "received 1011 (internal error) Internal error", "type": "internal_error"}
    assert "hint: The server hit an unexpected error" in (failure.text or "")
    assert "events missing: agent_thinking, tool_executing, tool_completed, agent_completed" in (failure.text or "")


def test_junitparser_reads_the_same_counts_and_messages() -> None:
    xml = JUnitXml.fromstring(junit_xml(story()[1]))
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (5, 1, 0, 0)
    results = {case.name: case.result for suite in xml for case in suite}
    assert results["health"] == []
    (failure,) = results["chat-events"]
    assert isinstance(failure, Failure)
    assert failure.message == "received 1011 (internal error) Internal error"
    assert failure.type == "internal_error"


def test_the_counts_agree_with_what_junitparser_recomputes() -> None:
    for record in [*story(), _record_with_everything()]:
        xml = JUnitXml.fromstring(junit_xml(record))
        for suite in xml:
            declared = (suite.tests, suite.failures, suite.errors, suite.skipped)
            suite.update_statistics()  # type: ignore[no-untyped-call]
            assert (suite.tests, suite.failures, suite.errors, suite.skipped) == declared, suite.name


def test_a_green_iteration_has_no_failures() -> None:
    xml = JUnitXml.fromstring(junit_xml(story()[2]))
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (5, 0, 0, 0)


def _record_with_everything() -> Record:
    suite = {
        "name": "e2e",
        "passed": 23,
        "failed": 3,
        "skipped": 1,
        "failures": [
            {"test": "tests/e2e/test_chat.py::test_events", "message": "AssertionError: 1 != 5\nfull trace"},
            {"test": "tests/e2e/test_chat.py::test_login", "message": ""},
        ],
    }
    broken = {"name": "e2e-priority-2", "priority": 2, "error": {"kind": "suite", "message": "pytest not found"}}
    rows: list[dict[str, Any]] = [
        {"name": "build", "status": "skipped"},
        {"name": "push", "status": "skipped"},
        {
            "name": "deploy",
            "status": "failed",
            "duration_s": 2.5,
            "error": {"kind": "deploy", "message": "no revision", "hint": "check the service logs"},
        },
        {"name": "probe", "status": "skipped"},
    ]
    return make_record(5, "failed", checks=[http_check()], suites=[suite, broken], phase_rows=rows)


def test_suites_failed_phases_and_skips_are_counted() -> None:
    document = junit_xml(_record_with_everything())
    suites = suites_by_name(document)
    assert list(suites) == ["loopctl.phases", "loopctl.checks", "e2e", "e2e-priority-2"]
    assert counts(suites["loopctl.phases"]) == (3, 0, 1, 2)
    error = suites["loopctl.phases"].find("testcase[@name='deploy']/error")
    assert error is not None
    assert (error.attrib["message"], error.attrib["type"], error.text) == (
        "no revision",
        "deploy",
        "check the service logs",
    )
    # two listed failures, one counted but unlisted, "23 passed", "1 skipped"
    assert counts(suites["e2e"]) == (5, 3, 0, 1)
    names = [case.attrib["name"] for case in suites["e2e"].findall("testcase")]
    assert names == [
        "tests/e2e/test_chat.py::test_events",
        "tests/e2e/test_chat.py::test_login",
        "1 more failed",
        "23 passed",
        "1 skipped",
    ]
    assert counts(suites["e2e-priority-2"]) == (1, 0, 1, 0)
    assert counts(ET.fromstring(document.encode())) == (10, 3, 2, 3)


def test_junitparser_sees_suite_failures_with_their_first_line() -> None:
    xml = JUnitXml.fromstring(junit_xml(_record_with_everything()))
    cases = {case.name: case for suite in xml for case in suite}
    (failure,) = cases["tests/e2e/test_chat.py::test_events"].result
    assert isinstance(failure, Failure)
    assert failure.message == "AssertionError: 1 != 5"
    assert failure.text == "AssertionError: 1 != 5\nfull trace"
    assert isinstance(cases["tests/e2e/test_chat.py::test_login"].result[0], Failure)
    assert isinstance(cases["1 skipped"].result[0], Skipped)
    assert isinstance(cases["deploy"].result[0], Error)
    assert cases["23 passed"].is_passed
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (10, 3, 2, 3)


def test_a_failing_check_carries_the_servers_error_and_its_trace() -> None:
    chat = next(check for check in story()[1].checks if check.name == "chat-events").model_dump(mode="json")
    chat |= {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "server_error": {"type": "KeyError", "message": "'text'", "location": "app/h.py:42", "lines": ["<KeyError>"]},
    }
    document = JUnitXml.fromstring(junit_xml(make_record(2, "progress", checks=[http_check(), chat])).encode())
    failure = next(
        result for suite in document for case in suite if case.name == "chat-events" for result in case.result
    )
    assert isinstance(failure, Failure)
    text = failure.text or ""
    assert "server error: KeyError: 'text' (app/h.py:42)" in text
    assert "trace: 4bf92f3577b34da6a3ce929d0e0e4736" in text and text.endswith("<KeyError>")


def test_junit_from_a_record_full_of_forbidden_characters_is_well_formed() -> None:
    for text in (HOSTILE, HOSTILE_EVENT):
        document = junit_xml(hostile_record(text))
        root = ET.fromstring(document.encode())  # raises on any character XML 1.0 forbids
        parsed = JUnitXml.fromstring(document)
        assert sum(suite.tests for suite in parsed) == len(list(root.iter("testcase")))
        errors = [case for case in root.iter("testcase") if case.find("error") is not None]
        assert any("Owned" in case.attrib["name"] for case in errors)  # the check that could not run


def test_a_check_that_failed_because_the_process_had_exited_says_so() -> None:
    refused = {**http_check(status=503), "after_exit": True}
    document = JUnitXml.fromstring(junit_xml(make_record(2, "progress", checks=[refused, all_events()])).encode())
    failure = next(result for suite in document for case in suite if case.name == "health" for result in case.result)
    assert isinstance(failure, Failure)
    assert "after the exit: no answer because the service's process had exited" in (failure.text or "")
