"""The line of a failed build that says why, whatever the toolchain: a compiler's diagnostic, else a tool's error.

Shapes (tests/fixtures/build_logs holds each tool's real output): tsc `src/room.ts(8,3): error TS2322: …` and, pretty,
`src/room.ts:8:3 - error TS2322: …`; webpack `ERROR in ./src/room.ts` with ts-loader's `TS2322: …` below it; gcc and
clang `main.c:3:3: error: …`; javac `Room.java:2: error: …`; cargo `error[E0308]: …` with ` --> src/main.rs:2:18`
below it; `go build` `./main.go:4:14: …`; pip `ERROR: …`; npm `npm ERR! …` (npm ≥ 10: `npm error …`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# BuildKit prefixes each line of a step with `#N 0.123 `.
_PREFIX = re.compile(r"^#\d+ (?:\d+\.\d+ )?")
# Compiler diagnostics: a file, a line, and the word error (or, for go, a column and a message).
_DIAGNOSTICS = (
    re.compile(r"^\S+\(\d+,\d+\): error TS\d+:"),  # tsc
    re.compile(r"^\S+:\d+:\d+ - error TS\d+:"),  # tsc --pretty
    re.compile(r"^\s*(?:error )?TS\d+: "),  # ts-loader under webpack, tsc without a file
    re.compile(r"^\S+:\d+:\d+: (?:fatal )?error: "),  # gcc, clang
    re.compile(r"^\S+\.java:\d+: error: "),  # javac
    re.compile(r"^error\[E\d+\]: "),  # cargo / rustc
    re.compile(r"^\S+\.go:\d+:\d+: "),  # go build
)
# A tool's own error lines, when no compiler said anything.
_TOOL_ERRORS = (
    re.compile(r"^ERROR in \S"),  # webpack
    re.compile(r"^ERROR: "),  # pip
    re.compile(r"^npm (?:ERR!|error) +(?!code |errno |syscall |path |command |signal |A complete log |Log files |$)\S"),
    re.compile(r"^error: "),  # cargo's summary, rustc
)
_WHERE_ABOVE = re.compile(r"^(?:\[tsl\] )?ERROR in (?P<where>\S+)")  # webpack names the file above the TS line
_WHERE_BELOW = re.compile(r"^\s*--> (?P<where>\S+)")  # rustc names it below the error
SCAN_LIMIT = 20_000  # lines of a failing step looked at: its last ones


def cause_line(lines: Sequence[str]) -> str | None:
    """The first compiler diagnostic of `lines` (with its file when the tool prints it on a line of its own), else
    the first tool error; None when the output has neither (then its last lines speak for it)."""
    texts = [_PREFIX.sub("", line.rstrip()) for line in lines[-SCAN_LIMIT:]]
    for patterns in (_DIAGNOSTICS, _TOOL_ERRORS):
        for index, text in enumerate(texts):
            if any(pattern.match(text) for pattern in patterns):
                return _located(texts, index)
    return None


def _located(texts: Sequence[str], index: int) -> str:
    """The line, and where it points when that is printed just above (webpack) or just below (rustc)."""
    text = texts[index].strip()
    below = (_WHERE_BELOW.match(line) for line in texts[index + 1 : index + 3])
    above = (_WHERE_ABOVE.match(line) for line in reversed(texts[max(0, index - 3) : index]))
    where = next((found["where"] for found in (*below, *above) if found is not None), None)
    return f"{text} ({where})" if where is not None and where not in text else text
