"""The steps of a conversation, as plain data: what to send, what to expect, and how a frame is matched. No I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loopctl.config.steps import PLACEHOLDER

StepKind = Literal["send", "text", "binary", "expect", "expect_text", "expect_close"]
EXPECTING: tuple[StepKind, ...] = ("expect", "expect_text", "expect_close")

_MISSING = object()


@dataclass(frozen=True)
class Step:
    """One turn: a frame to send (JSON, text, bytes) or one to wait for (a JSON subset, a text pattern, a close)."""

    kind: StepKind
    body: Any = None  # send: a JSON value; text: str; binary: bytes; expect: fields; expect_text: a pattern
    close_codes: tuple[int, ...] = ()
    match: Mapping[str, str] = field(default_factory=dict)
    capture: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None

    def describe(self, event_field: str) -> str:
        """`expect agent_completed`, `send auth`, `expect_text ^DONE`, `expect_close 1000`: how a report names it."""
        if self.kind in ("send", "expect"):
            name = self._named(event_field)
            return f"{self.kind} {name}" if name is not None else f"{self.kind} a JSON frame"
        if self.kind == "expect_close":
            return "expect_close " + " or ".join(str(code) for code in self.close_codes)
        if self.kind == "expect_text":
            return f"expect_text {self.body}"
        return "send a text frame" if self.kind == "text" else "send a binary frame"

    def event_name(self, event_field: str) -> str | None:
        """The event an `expect` step waits for, when it names one."""
        return self._named(event_field) if self.kind == "expect" else None

    def _named(self, event_field: str) -> str | None:
        name = self.body.get(event_field) if isinstance(self.body, dict) else None
        return name if isinstance(name, str) else None


def lookup(message: Any, path: str) -> Any:
    """The value at `path` in a JSON object: a key as written, else a dotted path (`result.status`); _MISSING."""
    if isinstance(message, dict) and path in message:
        return message[path]
    value = message
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def subset(pattern: Any, value: Any) -> bool:
    """Whether `value` holds everything `pattern` says: dicts key by key (keys may be dotted), anything else equal."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(subset(want, lookup(value, key)) for key, want in pattern.items())
    return value is not _MISSING and bool(pattern == value)


def as_text(value: Any) -> str:
    """A field's value as a pattern reads it: strings as they are, anything else as JSON (`4`, `true`)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)


def mismatch(step: Step, message: dict[str, Any]) -> str | None:
    """The first field of `message` that breaks `step` (`result.answer: "5", expected ^4$`); None when it fits."""
    for key, want in (step.body or {}).items():
        seen = lookup(message, key)
        if not subset(want, seen):
            shown_want = _shown(want)
            return f"{key}: {_shown(seen)}, expected {shown_want}" if seen is not _MISSING else f"{key}: absent"
    for key, pattern in step.match.items():
        seen = lookup(message, key)
        if seen is _MISSING:
            return f"{key}: absent, expected {pattern}"
        if re.search(pattern, as_text(seen)) is None:
            return f"{key}: {_shown(seen)}, expected {pattern}"
    return None


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else as_text(value)


def captured(step: Step, message: dict[str, Any]) -> dict[str, Any]:
    """The values a matched frame gives the names in `capture`; a field that is absent is not captured."""
    values = {name: lookup(message, path) for name, path in step.capture.items()}
    return {name: value for name, value in values.items() if value is not _MISSING}


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """`template` with each `{name}` replaced: a string that is one placeholder takes the value as it is (a
    number stays a number); inside longer text, its text."""
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, values) for value in template]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole is not None and whole[1] in values:
        return values[whole[1]]
    return PLACEHOLDER.sub(lambda found: as_text(values.get(found[1], found[0])), template)
