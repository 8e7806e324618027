"""Every error kind loopctl writes is an `ErrorKind` member, and docs/troubleshooting.md lists every member."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.records.record import ErrorInfo

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "loopctl"
# `kind` also names a check's transport, a conversation step and a progress event: none of them is an error kind.
OTHER_KINDS = {"websocket", "http", "send", "text", "binary", "expect", "expect_text", "expect_close"}
OTHER_KINDS |= {"start", "end", "log"}


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _kind_literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """String literals written where a kind goes: `kind=`, `kind = `, `{"kind": …}`, `.kind == …`, hint rows."""
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "kind":
            yield node.value.lineno, _literal(node.value) or ""
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "kind" for t in node.targets):
            yield node.lineno, _literal(node.value) or ""
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _literal(key) == "kind":
                    yield value.lineno, _literal(value) or ""
        elif isinstance(node, ast.Compare) and _names_kind(node.left):
            for comparator in node.comparators:
                yield node.lineno, _literal(comparator) or ""
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "").endswith("HINTS") for t in node.targets):
            for row in ast.walk(node.value):
                if isinstance(row, ast.Tuple) and len(row.elts) >= 2:
                    yield row.lineno, _literal(row.elts[-2]) or ""


def _names_kind(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "kind") or (
        isinstance(node, ast.Attribute) and node.attr == "kind"
    )


def test_no_error_kind_is_written_as_a_string_literal() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "errors.py":
            continue
        for line, literal in _kind_literals(ast.parse(path.read_text(), str(path))):
            if literal and literal not in OTHER_KINDS:
                found.append(f"{path.relative_to(ROOT)}:{line}: {literal!r}")
    assert found == [], "use an ErrorKind member:\n" + "\n".join(found)


def test_the_scan_sees_each_way_a_kind_is_written() -> None:
    source = """
LoopctlError("x", kind="push_denied")
class StoreError(UsageError):
    kind = "store"
error = {"kind": "junit", "message": ""}
if err.kind == "container_exited": pass
_HINTS = [("Forbidden", "permission_denied", "grant it")]
"""
    literals = sorted(literal for _, literal in _kind_literals(ast.parse(source)))
    assert literals == ["container_exited", "junit", "permission_denied", "push_denied", "store"]


def test_kinds_are_members_and_keep_their_json() -> None:
    assert isinstance(LoopctlError("x").kind, ErrorKind)
    info = ErrorInfo(kind=ErrorKind.PUSH_DENIED, message="refused")
    assert info.model_dump_json() == '{"kind":"push_denied","message":"refused","hint":""}'
    assert ErrorInfo.model_validate_json(info.model_dump_json()).kind is ErrorKind.PUSH_DENIED


def test_a_kind_from_a_newer_loopctl_still_loads() -> None:
    assert ErrorInfo.model_validate({"kind": "quota_exceeded", "message": "m"}).kind == "quota_exceeded"


def test_the_readme_lists_every_error_kind() -> None:
    readme = (ROOT / "docs" / "troubleshooting.md").read_text()
    section = readme.split("### Error kinds", 1)[1].split("\n#", 1)[0]
    rows = [line.rsplit("|", 2)[-2] for line in section.splitlines() if line.startswith("| ")]
    listed = set(re.findall(r"`([a-z_]+)`", "".join(rows)))
    assert {kind.value for kind in ErrorKind} - listed == set()
    assert listed - {kind.value for kind in ErrorKind} == set()
