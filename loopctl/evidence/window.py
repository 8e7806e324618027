"""The time window a check's server evidence is read from, and the log source contract readers keep."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.evidence.extract import LogLine

BEFORE = timedelta(seconds=1)  # a request's first log line can precede the probe's clock by a little
AFTER = timedelta(seconds=2)  # an error is often logged just after the connection closed


class LogsUnavailable(LoopctlError):
    """The logs could not be read: said in the report, never a failed iteration."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint, kind=ErrorKind.LOGS_UNAVAILABLE)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def around(cls, started_at: str, finished_at: str) -> Window:
        return cls(parse_stamp(started_at) - BEFORE, parse_stamp(finished_at) + AFTER)

    def holds(self, line: LogLine) -> bool:
        return line.timestamp is None or self.start <= line.timestamp <= self.end

    @staticmethod
    def union(windows: Sequence[Window]) -> Window:
        return Window(min(window.start for window in windows), max(window.end for window in windows))


@dataclass(frozen=True)
class LogRead:
    """What a source returned for a window: the lines, where from, why they may be incomplete, and, when the read
    was cut, what part of the window's log it holds (then silence about the rest cannot be claimed)."""

    lines: tuple[LogLine, ...]
    source: str
    note: str = ""
    partial: str = ""


class LogSource(Protocol):
    def read(self, window: Window, *, enough: Callable[[Sequence[LogLine]], bool]) -> LogRead: ...


def parse_stamp(text: str) -> datetime:
    """An RFC 3339 timestamp (`Z`, offsets, nanoseconds) as an aware datetime."""
    text = text.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[:digits][:6].ljust(6, "0") + rest[digits:]
        text = f"{head}.{rest}"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
