"""What a check asks for and what it found: plain data shared by the CLI, the config and the runner."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

from loopctl.errors import UsageError
from loopctl.outside_text import SHORT_LIMIT, one_line
from loopctl.probe.classify import AppCode
from loopctl.probe.steps import Step
from loopctl.records.record import CheckRecord, OutcomeRecord
from loopctl.secrets import (
    HTTP_TOKEN,
    Secret,
    check_wire_token,
    redact,
    redact_tree,
    remember_header,
    remember_userinfo,
)
from loopctl.wire import AuthMode

PROBE_SCHEMA = 1


@dataclass(frozen=True)
class Check:
    """One probe of a running service: a WebSocket exchange (ws/wss) or an HTTP GET (http/https)."""

    url: str
    send: Any = None
    expect_events: tuple[str, ...] = ()
    event_field: str = "type"
    timeout: float = 30.0
    hold: float = 1.0
    expect_status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    token: Secret | None = None
    auth: AuthMode = "bearer"
    app_codes: Mapping[int, AppCode] = field(default_factory=dict)
    ca_bundle: str | None = None
    max_size: int = 1 << 20
    ping_interval: float = 20.0
    fail_on: tuple[Mapping[str, Any], ...] | None = None
    # A conversation on one connection, in place of `send` + `expect_events` (see loopctl.probe.steps).
    steps: tuple[Step, ...] = ()

    @cached_property  # read for every frame: computed once
    def error_frames(self) -> tuple[Mapping[str, Any], ...]:
        """What ends the check as the app's own error: `fail_on`, or by default an event named `error` (unless
        `error` is itself expected, as an event or by a step)."""
        if self.fail_on is not None:
            return self.fail_on
        expected = {*self.expect_events, *(step.event_name(self.event_field) for step in self.steps)}
        return () if "error" in expected else ({self.event_field: "error"},)

    def __post_init__(self) -> None:
        # Refused here, before anything connects: a header no HTTP library would send, said without its value.
        if self.token is not None:
            check_wire_token(self.token, subprotocol=self.auth == "subprotocol" and self.kind == "websocket")
        for name, value in self.headers:
            check_header(name, value)
            remember_header(name, value)  # `probe --header 'Authorization: …'` as much as config.yaml's

    @property
    def kind(self) -> Literal["websocket", "http"]:
        return "websocket" if urlsplit(self.url).scheme in ("ws", "wss") else "http"


def with_query_token(url: str, token: str) -> str:
    """`url` with `token=` appended to its query: how `auth: {type: query}` sends a token, over HTTP and WebSocket."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode({"token": token})]))
    return urlunsplit(parts._replace(query=query))


@dataclass(frozen=True)
class Latency:
    """Milliseconds to open the connection, to the first event after sending, and overall."""

    connect: float | None = None
    first_event: float | None = None
    total: float | None = None


@dataclass(frozen=True)
class ProbeResult:
    """Everything one check observed, ready for JSON and rendering."""

    url: str
    kind: str
    outcome: OutcomeRecord
    events_expected: tuple[str, ...] = ()
    # A sample of the event names (the first and the last ones, see loopctl.outside_text), and how many arrived in all.
    events_seen: tuple[str, ...] = ()
    events_missing: list[str] = field(default_factory=list)
    events_count: int = 0
    latency: Latency = Latency()
    frames_ignored: int = 0
    trace_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    # A conversation's progress (loopctl.probe.conversation): steps done, the step reached, the mismatch.
    steps: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return self.outcome.passed

    def to_record(
        self, name: str, *, priority: int = 1, impact: str | None = None, load: dict[str, Any] | None = None
    ) -> CheckRecord:
        """The check as the record keeps it: the `probe --json` document, and the check's name, priority and impact."""
        document = {key: value for key, value in self.to_dict().items() if key != "schema"}
        return CheckRecord.model_validate(
            {**document, "name": name, "priority": priority, "impact": impact, "load": load}
        )

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape of `loopctl probe --json`, with secrets scrubbed."""
        return {
            "schema": PROBE_SCHEMA,
            "url": redact(self.url),
            "kind": self.kind,
            "passed": self.passed,
            "outcome": {
                key: redact(value) if isinstance(value, str) else value
                for key, value in self.outcome.model_dump().items()
            },
            "events_expected": list(self.events_expected),
            "events_seen": [redact(name) for name in self.events_seen],
            "events_missing": self.events_missing,
            "events_count": self.events_count,
            "frames_ignored": self.frames_ignored,
            "trace_id": self.trace_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            **({"steps": redact_tree(self.steps)} if self.steps is not None else {}),
            "latency_ms": {
                "connect": self.latency.connect,
                "first_event": self.latency.first_event,
                "total": self.latency.total,
            },
        }


def parse_url(url: str) -> SplitResult:
    """Split a probe URL, rejecting anything that is not ws, wss, http or https with a host."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError as err:
        raise UsageError(f"bad URL {one_line(url)!r}: {one_line(str(err))}", hint="use ws://host[:port]/path") from None
    remember_userinfo(parts.username, parts.password)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname or not port_ok:
        raise UsageError(
            f"bad URL {one_line(url)!r}: expected ws://, wss://, http:// or https:// followed by a host",
            hint="for example ws://127.0.0.1:8080/ws or https://my-service.run.app/health",
        )
    return parts


def parse_send(text: str | None) -> Any:
    """Parse the JSON message sent after connecting."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(
            f"--send is not valid JSON: {err.msg} at column {err.colno}",
            hint='quote it for the shell, e.g. --send \'{"type": "user_message"}\'',
        ) from None


def parse_header(text: str) -> tuple[str, str]:
    """Parse one `Name: value` header."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(ch.isspace() for ch in name.strip()):
        raise UsageError(
            f"bad header {one_line(text, SHORT_LIMIT)!r}: expected 'Name: value'", hint="e.g. --header 'X-Env: staging'"
        )
    return name.strip(), value.strip()


def check_header(name: str, value: str) -> None:
    """A header name is an RFC 7230 token; a value is one line of Latin-1 without control characters."""
    if not HTTP_TOKEN.match(name):
        raise UsageError(
            f"bad header name {one_line(name, SHORT_LIMIT)!r}: only letters, digits and !#$%&'*+-.^_`|~",
            hint="header names are words like X-Env",
        )
    if any((ord(char) < 0x20 and char != "\t") or 0x7F <= ord(char) <= 0x9F or ord(char) > 0xFF for char in value):
        raise UsageError(
            f"the value of header {name} holds a line break, a control character or a character outside Latin-1",
            hint="a header value is one line of printable text",
        )
