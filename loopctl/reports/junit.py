"""JUnit XML from an iteration record, for CI test tabs: phases, checks and suites as test cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from loopctl.outside_text import printable
from loopctl.records.record import GATING_PHASES, CheckRecord, PhaseRecord, Record, SuiteRecord
from loopctl.records.sections import DeploySection
from loopctl.reports.evidence import said
from loopctl.reports.services import sections_of
from loopctl.reports.tables import by_service, service_order

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_OUTCOME_TAGS = ("failure", "error", "skipped")


def junit_xml(record: Record) -> str:
    """One `<testsuites>` document: loopctl.phases, loopctl.checks, then one testsuite per suite record."""
    suites = [
        _phases_suite(record),
        *_checks_suites(record),
        *(_suite_record(record, suite) for suite in record.suites),
    ]
    root = ET.Element("testsuites", name=f"loopctl iteration {record.number}")
    root.extend(suite for suite in suites if suite is not None)
    for attribute in ("tests", "failures", "errors", "skipped"):
        root.set(attribute, str(sum(int(suite.get(attribute, "0")) for suite in root)))
    root.set("time", _seconds(sum(float(suite.get("time", "0")) for suite in root)))
    _only_xml_characters(root)
    ET.indent(root)
    return XML_DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def _only_xml_characters(root: ET.Element) -> None:
    """Every text and attribute without the characters XML forbids, so the document is always well-formed.

    ElementTree escapes `<`, `&` and quotes but writes a control character as it is, which no parser accepts;
    `printable` removes every character XML 1.0 cannot hold, even escaped.
    """
    for element in root.iter():
        if element.text:
            element.text = printable(element.text)
        for key, value in element.attrib.items():
            element.set(key, printable(value))


def _testsuite(record: Record, name: str, cases: list[ET.Element], properties: dict[str, str]) -> ET.Element:
    """A testsuite whose counts are read from its cases, so they can never disagree."""
    suite = ET.Element("testsuite", name=name, timestamp=record.started_at)
    counts = {tag: sum(case.find(tag) is not None for case in cases) for tag in _OUTCOME_TAGS}
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", _seconds(sum(float(case.get("time", "0")) for case in cases)))
    if properties:
        block = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(block, "property", name=key, value=value)
    suite.extend(cases)
    return suite


def _iteration_properties(record: Record, *, service: str | None = None) -> dict[str, str]:
    """The iteration and what it deployed: one service's revision and URL, or with several, each one's (named)."""
    values = {
        "loopctl.iteration": str(record.number),
        "loopctl.status": record.status,
        "loopctl.commit": record.git.commit,
    }
    if record.services is None or service is not None:
        deploy = sections_of(record, service).deploy or DeploySection()
        values |= {"loopctl.revision": deploy.revision or deploy.service, "loopctl.url": deploy.url}
        values |= {"loopctl.service": service} if service else {}
    else:
        for name in service_order(record):
            deploy = record.services[name].deploy or DeploySection()
            values[f"loopctl.{name}.revision"] = deploy.revision or deploy.service
            values[f"loopctl.{name}.url"] = deploy.url
    return {key: str(value) for key, value in values.items() if value}


def _testcase(name: str, classname: str, seconds: float = 0.0) -> ET.Element:
    return ET.Element("testcase", name=name, classname=classname, time=_seconds(seconds))


def _seconds(value: float) -> str:
    return f"{value:.3f}"


# ----------------------------------------------------------------------------- phases


def _phases_suite(record: Record) -> ET.Element | None:
    """build, push and deploy always; a later phase only when it stopped with an error (no checks to show it)."""
    shown = [
        phase
        for phase in record.phases
        if phase.name in GATING_PHASES or (phase.status in ("failed", "aborted") and phase.error is not None)
    ]
    if not shown:
        return None
    return _testsuite(record, "loopctl.phases", [_phase_case(phase) for phase in shown], _iteration_properties(record))


def _phase_case(phase: PhaseRecord) -> ET.Element:
    classname = f"loopctl.phases.{phase.service}" if phase.service else "loopctl.phases"
    case = _testcase(phase.name, classname, phase.duration_s)
    if phase.status == "skipped":
        ET.SubElement(case, "skipped", message="skipped")
    elif phase.status in ("failed", "aborted"):
        kind = phase.error.kind if phase.error else phase.status
        message = phase.error.message if phase.error else f"{phase.name} {phase.status}"
        error = ET.SubElement(case, "error", message=message, type=kind)
        error.text = phase.error.hint if phase.error and phase.error.hint else None
    return case


# ----------------------------------------------------------------------------- checks


def _checks_suites(record: Record) -> list[ET.Element]:
    """`loopctl.checks`; with several services, `loopctl.checks.NAME` per service in deploy order, so CI's test
    tab shows whose check failed (a record of one service has its checks under none)."""
    groups = by_service(record, record.checks, lambda check: check.service)
    return [
        _testsuite(
            record,
            f"loopctl.checks.{service}" if service else "loopctl.checks",
            [_check_case(check) for check in checks],
            _iteration_properties(record, service=service),
        )
        for service, checks in groups
    ]


def _check_case(check: CheckRecord) -> ET.Element:
    total_ms = check.latency_ms.get("total")
    owner = f"{check.service}." if check.service else ""
    case = _testcase(check.name, f"loopctl.probe.{owner}p{check.priority}", (total_ms or 0.0) / 1000)
    if check.error is not None:  # it could not run: an error, not a failure of the service
        error = ET.SubElement(case, "error", message=check.error.message, type=check.error.kind)
        error.text = check.error.hint or None
    elif not check.passed:
        outcome = check.outcome
        failure = ET.SubElement(case, "failure", message=outcome.label or outcome.category, type=outcome.category)
        failure.text = "\n".join(_check_failure_lines(check))
    return case


def _check_failure_lines(check: CheckRecord) -> list[str]:
    outcome = check.outcome
    missing = check.events_missing or [name for name in check.events_expected if name not in check.events_seen]
    lines = [
        f"url: {check.url}" if check.url else "",
        f"code: {outcome.code}" if outcome.code is not None else "",
        f"depth: {outcome.depth}/5",
        f"reason: {outcome.reason}" if outcome.reason else "",
        "after the exit: no answer because the service's process had exited" if check.after_exit else "",
        f"hint: {outcome.hint}" if outcome.hint else "",
        f"events seen: {', '.join(check.events_seen) or 'none'}" if check.events_expected else "",
        f"events missing: {', '.join(missing)}" if missing else "",
        *_steps_lines(check),
        *_server_lines(check),
    ]
    return [line for line in lines if line]


def _steps_lines(check: CheckRecord) -> list[str]:
    """A conversation's step reached and its payload mismatch: what CI's test view should say first."""
    steps = check.steps
    if steps is None:
        return []
    instead = f"came instead: {' | '.join(steps.instead)}" if steps.instead else ""
    mismatch = f"payload mismatch: {steps.mismatch}" if steps.mismatch else ""
    return [f"step reached: {steps.where} ({steps.done}/{steps.total} done)", mismatch, instead]


def _server_lines(check: CheckRecord) -> list[str]:
    """The service's own error for the check (CI's test view shows it beside the outcome), and the trace id."""
    error = check.server_error
    if error is None:
        return [f"trace: {check.trace_id}"] if check.trace_id else []
    where = f" ({error.location})" if error.location else ""
    return [f"server error: {said(error)}{where}", f"trace: {check.trace_id}" if check.trace_id else "", *error.lines]


# ----------------------------------------------------------------------------- suites


def _suite_record(record: Record, suite: SuiteRecord) -> ET.Element:
    """Suites record counts, not every test: listed failures fail, the rest become aggregate cases."""
    classname = f"loopctl.suites.{suite.name}"
    cases = [*_listed_failures(suite, classname), *_aggregate_cases(suite, classname)]
    if suite.error is not None:
        case = _testcase(suite.name, classname)
        ET.SubElement(case, "error", message=suite.error.message, type=suite.error.kind).text = suite.error.hint or None
        cases.append(case)
    counts = {"passed": suite.passed, "failed": suite.failed, "skipped": suite.skipped, "priority": suite.priority}
    return _testsuite(record, suite.name, cases, {f"loopctl.{key}": str(value) for key, value in counts.items()})


def _listed_failures(suite: SuiteRecord, classname: str) -> list[ET.Element]:
    cases = []
    for listed in suite.failures:
        case = _testcase(listed.test, classname)
        message = listed.message.strip()
        failure = ET.SubElement(case, "failure", message=message.splitlines()[0] if message else "failed")
        failure.set("type", "test_failure")
        failure.text = listed.message or None
        cases.append(case)
    return cases


def _aggregate_cases(suite: SuiteRecord, classname: str) -> list[ET.Element]:
    """`23 passed`, `1 skipped`, and the failures the suite counted but did not list."""
    cases = []
    unlisted = suite.failed - len(suite.failures)
    if unlisted > 0:
        case = _testcase(f"{unlisted} more failed", classname)
        ET.SubElement(case, "failure", message=f"{unlisted} failure(s) not listed by the suite", type="test_failure")
        cases.append(case)
    if suite.passed:
        cases.append(_testcase(f"{suite.passed} passed", classname))
    if suite.skipped:
        case = _testcase(f"{suite.skipped} skipped", classname)
        ET.SubElement(case, "skipped", message=f"{suite.skipped} test(s) skipped")
        cases.append(case)
    return cases
