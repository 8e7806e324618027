"""The cause of a failed build, quoted from each toolchain's real output (tests/fixtures/build_logs/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopctl.evidence.toolchain import cause_line

LOGS = Path(__file__).resolve().parent / "fixtures" / "build_logs"
PIP_WANTED = "roomlib==9.9 (from versions: none)"
TS2322 = "TS2322: Type 'string' is not assignable to type 'number'."


@pytest.mark.parametrize(
    ("log", "cause"),
    [
        ("tsc.log", f"src/room.ts(8,3): error {TS2322}"),
        ("tsc_pretty.log", f"src/room.ts:8:3 - error {TS2322}"),
        ("webpack.log", f"{TS2322} (/app/src/room.ts(8,3))"),
        ("gcc.log", "main.c:3:3: error: expected ‘,’ or ‘;’ before ‘return’"),
        ("javac.log", "j/Room.java:2: error: incompatible types: String cannot be converted to int"),
        ("cargo.log", "error[E0308]: mismatched types (src/main.rs:2:18)"),
        (
            "pip.log",
            "ERROR: Could not find a version that satisfies the requirement roomlib==9.9 (from versions: none)",
        ),
        ("npm_missing.log", 'npm error Missing script: "missing"'),
    ],
)
def test_each_toolchains_error_line_is_the_cause(log: str, cause: str) -> None:
    output = (LOGS / log).read_text().splitlines()
    assert cause_line([*output, "npm notice: a later line that is not the cause"]) == cause


def test_go_buildkit_prefixes_and_old_npm_are_read_and_nothing_known_is_none() -> None:
    go = ["#9 1.204 # example.com/room", '#9 1.204 ./main.go:4:14: cannot use "x" (untyped string constant) as int']
    assert cause_line(go) == './main.go:4:14: cannot use "x" (untyped string constant) as int'
    old_npm = ["npm ERR! code ELIFECYCLE", "npm ERR! errno 2", "npm ERR! room@1.0.0 build: `tsc -p .`"]
    assert cause_line(old_npm) == "npm ERR! room@1.0.0 build: `tsc -p .`"
    assert cause_line(["Collecting requests", "/usr/bin/python3: No module named pip"]) is None
