"""Correlation: a fresh trace id for every check session, sent the ways servers and Cloud Run log it."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

TRACE_HEADERS = ("traceparent", "x-cloud-trace-context")
_TRACE_ID = re.compile(r"^(?:00-)?([0-9a-f]{32})[-/]", re.IGNORECASE)


@dataclass(frozen=True)
class Trace:
    """A W3C trace id (32 hex) and the probe's own span id (16 hex)."""

    trace_id: str
    span_id: str

    @classmethod
    def fresh(cls) -> Trace:
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    @classmethod
    def given(cls, headers: tuple[tuple[str, str], ...]) -> Trace | None:
        """The trace a check's own `traceparent` or `X-Cloud-Trace-Context` header names, if it sets one."""
        for name, value in headers:
            found = _TRACE_ID.match(value.strip()) if name.lower() in TRACE_HEADERS else None
            if found is not None:
                return cls(found[1].lower(), "")
        return None

    def headers(self) -> tuple[tuple[str, str], ...]:
        """W3C `traceparent`, and Cloud Run's `X-Cloud-Trace-Context` (its span id is decimal), both sampled."""
        return (
            ("traceparent", f"00-{self.trace_id}-{self.span_id}-01"),
            ("X-Cloud-Trace-Context", f"{self.trace_id}/{int(self.span_id, 16)};o=1"),
        )


def with_trace(headers: tuple[tuple[str, str], ...], trace: Trace) -> tuple[tuple[str, str], ...]:
    """The check's headers plus the trace's, unless the check already sets its own trace headers."""
    if any(name.lower() in TRACE_HEADERS for name, _ in headers):
        return headers
    return (*headers, *trace.headers())


def utc_stamp(moment: datetime | None = None) -> str:
    """`2026-12-01T05:20:45.123Z`: the record's timestamp form."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
