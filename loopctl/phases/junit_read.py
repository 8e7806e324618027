"""Read a JUnit XML file (pytest, jest, go-junit-report…) into pass/fail/skip counts and failures."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class JunitCounts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


def read_junit(path: Path) -> JunitCounts:
    """Count test cases; a file that does not parse is an error, not a crash."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as err:
        return JunitCounts(error=f"cannot read JUnit XML: {err}")
    passed = failed = skipped = 0
    failures: list[tuple[str, str]] = []
    for case in root.iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            failed += 1
            name = ".".join(filter(None, [case.get("classname"), case.get("name")]))
            # Whole: the record clips it once it is masked (a cut here could halve a token redaction then misses).
            failures.append((name, (problem.get("message") or problem.text or "").strip()))
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return JunitCounts(passed, failed, skipped, failures)
