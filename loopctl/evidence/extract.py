"""Find, in a window of server log lines, what an engineer looks for first: the exception and where it was raised.

In order of preference: the last Python traceback (its final line, and its deepest frame in the service's own
code), the last Node stack trace or Go panic, else the last ERROR/CRITICAL entry (plain text or structured JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loopctl import outside_text
from loopctl.outside_text import LINE_LIMIT, clip
from loopctl.records.record import Frame, ServerError

EXCERPT_LIMIT = 40  # lines kept of the excerpt (its end: where the error is)
MESSAGE_LIMIT = 500
NAME_LIMIT = 120  # an exception type or a file:line
ERROR_SEVERITIES = ("ERROR", "CRITICAL", "ALERT", "EMERGENCY", "FATAL")

_GROUP_PREFIX = re.compile(r"^\s*(?:\|\s?)+")  # Python 3.11 exception groups draw their sub-tracebacks behind `|`
_PY_START = re.compile(r"^\s*(?:\+\s*)?(?:Exception Group )?Traceback \(most recent call last\):\s*$")
_PY_FRAME = re.compile(r'^\s+File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
_NODE_FRAME = re.compile(r"^\s+at (?:(?P<func>.+?) \()?(?P<path>[^()\s]+?):(?P<line>\d+):(?P<col>\d+)\)?\s*$")
_NODE_ERROR = re.compile(
    r"^(?:Uncaught )?(?P<type>[A-Z]\w*(?:Error|Exception)|Error)(?: \[[\w-]+\])?(?::\s?(?P<message>.*))?$"
)
_NODE_SOURCE = re.compile(r"^\S+:\d+$")
_GO_PANIC = re.compile(r"^(?:.*\bhttp: )?panic(?: serving [^:]+(?::\d+)?)?: (?P<message>.*)$")
_GO_FRAME = re.compile(r"^\s+(?P<path>/\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$")
_SEVERITY_TEXT = re.compile(
    r"(?:^|[\s\[(|])(?P<level>ERROR|CRITICAL|FATAL|EMERGENCY|ALERT)(?:$|[\s\]):|])|\blevel=(?P<kv>error|fatal|critical)\b",
    re.IGNORECASE,
)
_LIBRARY_PATHS = ("site-packages/", "dist-packages/", "/lib/python", "<frozen", "<string>", "node_modules/", "node:")
_GO_LIBRARY = ("/usr/local/go/", "/usr/lib/go", "/go/pkg/mod/", "/src/runtime/", "/src/net/http/")


@dataclass(frozen=True)
class LogLine:
    """One line a server wrote: its text and, when the source gives them, its time, severity and trace."""

    text: str
    timestamp: datetime | None = None
    severity: str | None = None
    trace: str | None = None


def clean(text: str, limit: int = LINE_LIMIT) -> str:
    """Outside text for the record through the shared boundary (redacted, controls gone), tabs as spaces, clipped."""
    return clip(outside_text.lines(text.replace("\t", "    ")).rstrip(), limit)


def extract(lines: Sequence[LogLine]) -> ServerError | None:
    """The most telling error in `lines`, or None when the window holds none."""
    expanded = [item for line in lines for item in expand(line)]
    texts = [text for text, _ in expanded]
    found = _python(texts) or _node(texts) or _go(texts)
    if found is not None:
        return found
    return _severity(expanded)


# ----------------------------------------------------------------------------- lines


def expand(line: LogLine) -> list[tuple[str, str | None]]:
    """Split multi-line entries; a JSON object line becomes its message (and stack) with its own severity."""
    severity = line.severity
    text = line.text
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        structured = _structured(stripped)
        if structured is not None:
            text, severity = structured[0], structured[1] or severity
    return [(part, severity) for part in text.splitlines() or [""]]


def _structured(text: str) -> tuple[str, str | None] | None:
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError):  # a line nested 100k deep is a line of text, not a reason to fail
        return None
    if not isinstance(entry, dict):
        return None
    message = next((str(entry[key]) for key in ("message", "msg", "textPayload") if key in entry), text)
    stack = next((str(entry[key]) for key in ("stack_trace", "exc_info", "stack", "traceback") if entry.get(key)), "")
    if not stack and isinstance(entry.get("error"), dict) and entry["error"].get("stack"):
        stack = str(entry["error"]["stack"])
    level = next((_level_name(entry[key]) for key in ("severity", "level", "levelname") if key in entry), None)
    if stack and stack.strip() not in message:
        message = f"{message}\n{stack}"
    return message, level.upper() if level else None


def _level_name(level: Any) -> str:
    """A level as a name; pino and bunyan write numbers (40 warn, 50 error, 60 fatal)."""
    if isinstance(level, int) and not isinstance(level, bool):
        return "FATAL" if level >= 60 else "ERROR" if level >= 50 else "WARNING" if level >= 40 else "INFO"
    return str(level)


def _excerpt(texts: Sequence[str], start: int, end: int, *, announced: bool = False) -> tuple[str, ...]:
    """The lines start..end, and the one before when it announced them (a traceback's log call)."""
    if announced and start > 0 and texts[start - 1].strip():
        start -= 1
    kept = texts[max(start, end - EXCERPT_LIMIT) : end]
    return tuple(clean(text) for text in kept)


def _location(path: str, line: str) -> str:
    """The last three parts of the path: enough to find the file, free of the machine's own folders."""
    parts = [part for part in path.replace("\\", "/").split("/") if part]
    return clean(f"{'/'.join(parts[-3:])}:{line}", NAME_LIMIT)


def _own(path: str, library: Sequence[str]) -> bool:
    return not any(marker in path for marker in library)


# ----------------------------------------------------------------------------- Python


def _python(texts: Sequence[str]) -> ServerError | None:
    """The last complete traceback, found in one pass: each line is looked at once, whatever the log holds."""
    unboxed = [_GROUP_PREFIX.sub("", text) for text in texts]
    found: tuple[_Traceback, int, ServerError] | None = None
    open_blocks: list[_Traceback] = []  # nested by indentation; a logger may indent a whole traceback
    for index, text in enumerate(unboxed):
        if not text.strip():
            continue
        indent = len(text) - len(text.lstrip())
        if _PY_START.match(text):
            _close(open_blocks, indent)
            open_blocks.append(_Traceback(index, indent))
        elif open_blocks and indent > open_blocks[-1].indent:
            open_blocks[-1].frame(text)
        elif open_blocks:
            block = _close(open_blocks, indent)
            raised = _EXCEPTION.match(text.strip()) if block is not None else None
            if block is not None and raised is not None:
                found = (block, index + 1, block.error(raised))
    if found is None:
        return None
    block, end, error = found
    excerpt = _excerpt(texts, block.start, end, announced=True)
    return error.model_copy(update={"lines": excerpt})


class _Traceback:
    """A traceback being read: where it starts, how far it is indented, and its frames' locations so far."""

    def __init__(self, start: int, indent: int) -> None:
        self.start, self.indent = start, indent
        self.own: Frame | None = None
        self.deepest: Frame | None = None

    def frame(self, text: str) -> None:
        frame = _PY_FRAME.match(text)
        if frame is not None:
            self.deepest = Frame(frame["path"], frame["line"], None, frame["func"])
            if _own(frame["path"], _LIBRARY_PATHS):
                self.own = self.deepest

    def error(self, raised: re.Match[str]) -> ServerError:
        message = clean(raised["message"] or "", MESSAGE_LIMIT)
        where = self.own or self.deepest
        location = _location(where.path, where.line) if where is not None else None
        return ServerError(type=clean(raised["type"], NAME_LIMIT), message=message, location=location, frame=where)


def _close(open_blocks: list[_Traceback], indent: int) -> _Traceback | None:
    """End the tracebacks a line at `indent` ends; the innermost of them is the one that line may complete."""
    closed = None
    while open_blocks and open_blocks[-1].indent >= indent:
        popped = open_blocks.pop()
        closed = closed or popped
    return closed


# ----------------------------------------------------------------------------- Node and Go


def _node(texts: Sequence[str]) -> ServerError | None:
    for index in range(len(texts) - 1, 0, -1):
        if not _NODE_FRAME.match(texts[index]) or _NODE_FRAME.match(texts[index - 1]):
            continue
        head = index - 1  # the line above the first `at` frame names the error
        raised = _NODE_ERROR.match(texts[head].strip())
        if raised is None:
            continue
        end = index
        own: Frame | None = None
        while end < len(texts) and (frame := _NODE_FRAME.match(texts[end])):
            if own is None and _own(frame["path"], _LIBRARY_PATHS):
                own = Frame(frame["path"], frame["line"], frame["col"], frame["func"])
            end += 1
        start = _node_context_start(texts, head)
        message = clean(raised["message"] or "", MESSAGE_LIMIT)
        location = _location(own.path, own.line) if own is not None else None
        excerpt = _excerpt(texts, start, end)
        return ServerError(
            type=clean(raised["type"], NAME_LIMIT), message=message, location=location, lines=excerpt, frame=own
        )
    return None


def _node_context_start(texts: Sequence[str], head: int) -> int:
    """An uncaught error prints `file:line`, the source line and a caret above the error: keep them."""
    for start in range(head - 1, max(head - 6, -1), -1):
        if _NODE_SOURCE.match(texts[start]):
            return start
    return head


def _go(texts: Sequence[str]) -> ServerError | None:
    starts = [index for index, text in enumerate(texts) if _GO_PANIC.match(text.strip())]
    if not starts:
        return None
    start = starts[-1]
    message = clean(_GO_PANIC.match(texts[start].strip())["message"], MESSAGE_LIMIT)  # type: ignore[index]
    end, own, seen_frame = start + 1, None, False
    while end < len(texts) and (texts[end].strip() or not seen_frame) and end - start < 200:
        frame = _GO_FRAME.match(texts[end])
        if frame is not None:
            seen_frame = True
            if own is None and _own(frame["path"], _GO_LIBRARY):
                own = Frame(frame["path"], frame["line"])
        if texts[end].startswith("exit status") or (seen_frame and _GO_PANIC.match(texts[end].strip())):
            break
        end += 1
    location = _location(own.path, own.line) if own is not None else None
    return ServerError(type="panic", message=message, location=location, lines=_excerpt(texts, start, end), frame=own)


# ----------------------------------------------------------------------------- severity


def _severity(expanded: Sequence[tuple[str, str | None]]) -> ServerError | None:
    hits = [(text, level) for text, severity in expanded if (level := _level(text, severity))]
    if not hits:
        return None
    text, level = hits[-1]
    excerpt = tuple(clean(hit_text) for hit_text, _ in hits[-EXCERPT_LIMIT:])
    return ServerError(type=level, message=clean(text.strip(), MESSAGE_LIMIT), lines=excerpt)


def _level(text: str, severity: str | None) -> str | None:
    if severity is not None:
        upper = severity.upper()
        return upper if upper in ERROR_SEVERITIES or upper == "ERR" else None
    found = _SEVERITY_TEXT.search(text[:120])  # a level names itself near the start of a line
    if found is None:
        return None
    return (found["level"] or found["kv"]).upper()
