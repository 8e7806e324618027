"""A Cloud Logging API v2 emulator for tests: `entries.list` over REST, as the real `google-cloud-logging` calls it.

Served on 127.0.0.1 (port 0) from a background thread; point `google.cloud.logging.Client(project=...,
credentials=AnonymousCredentials(), _use_grpc=False, client_options={"api_endpoint": emulator.endpoint})` at it.

Shapes kept, one line each, with their source:
- request `POST /v2/entries:list`, body `{resourceNames, filter, orderBy, pageSize, pageToken}`:
  https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list (client: logging_v2/_http.py list_entries)
- response `{entries: [LogEntry], nextPageToken}`, the token absent on the last page: same page ("Response body")
- `orderBy` is "timestamp asc" (default) or "timestamp desc"; `pageSize` defaults to 50, at most 1000: same page
- LogEntry `{logName, resource: {type, labels}, timestamp, receiveTimestamp, severity, insertId, textPayload |
  jsonPayload, trace, httpRequest}`: https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry
- Cloud Run's request log `run.googleapis.com%2Frequests`, an `httpRequest` and no payload (tests add such entries
  by hand): https://cloud.google.com/run/docs/logging
- `cloud_run_revision` labels `project_id, service_name, revision_name, location, configuration_name`:
  https://cloud.google.com/logging/docs/api/v2/resource-list
- container output as `projects/P/logs/run.googleapis.com%2Fstdout` / `%2Fstderr`, one entry per line, a JSON
  line as `jsonPayload`: https://cloud.google.com/run/docs/logging
- the filter subset: `FIELD OP "VALUE"` comparisons (`=`, `!=`, `>=`, `<=`, `>`, `<`) on dotted fields, joined by
  newlines or `AND`; timestamps compare as times and severities by rank:
  https://cloud.google.com/logging/docs/view/logging-query-language
- errors `{error: {code, message, status}}` (400 INVALID_ARGUMENT for a filter it cannot parse; google_errors.py):
  https://cloud.google.com/apis/design/errors
- `entries.list` is limited to 60 requests a minute per project; past it 429 RESOURCE_EXHAUSTED:
  https://cloud.google.com/logging/quotas ("Number of entries.list requests") and the error model above
- an empty `entries` with a `nextPageToken` means the search has not finished the time range; the caller retries
  with the token: the entries.list reference ("Response body", nextPageToken) and https://google.aip.dev/158
  ("fewer results than the number requested (including zero results), even if not at the end of the collection")
- `receiveTimestamp` is when Logging received the entry; an entry is listable only once ingested, so one that
  becomes visible late carries a late receiveTimestamp: the LogEntry reference (receiveTimestamp)
- plain lines written to stdout or stderr carry no severity (DEFAULT); a JSON line's `severity` is the entry's:
  https://cloud.google.com/functions/1stgendocs/monitoring/logging ("Writing runtime logs", said of Cloud Run functions)
Assumed, not documented: the same holds for Cloud Run services; the page token is opaque (here the offset, tied to
the query it was made for); the 429 message's wording.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopctl.evidence.window import parse_stamp
from tests.support.google_errors import status_error
from tests.support.http_emulator import HttpEmulator, JsonHandler

Entry = dict[str, Any]
Feed = Callable[[], Iterable[Entry]]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"]
_QUOTA_MESSAGE = (
    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service "
    "'logging.googleapis.com'."
)
_COMPARISON = re.compile(r'^(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>>=|<=|!=|=|>|<)\s*"(?P<value>(?:[^"\\]|\\.)*)"$')


class FilterError(ValueError):
    """A filter outside the subset this emulator understands."""


class LoggingEmulator(HttpEmulator):
    """Entries kept in memory (and read live from feeds), listed through `entries.list`."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.feeds: list[Feed] = []
        self.requests: list[dict[str, Any]] = []  # every entries.list body, as sent
        self.hide_newer_than_s = 0.0  # ingestion delay: entries younger than this are not listed yet
        self.quota_per_minute = 60  # entries.list requests a project may make in any 60 s
        self.empty_pages = 0  # the next N answers are empty pages with a nextPageToken: a search still going
        self.served: list[int] = []  # entries in each answer, to count what was read again
        self._faults: list[int] = []
        self._calls: list[float] = []
        self._lock = threading.Lock()
        self._listen(_handler_for(self), "logging-emulator")

    def add(self, *entries: Entry) -> None:
        with self._lock:
            self.entries.extend(entries)

    def fail_next(self, status: int, count: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * count)

    def _refused(self) -> tuple[int, dict[str, Any]] | None:
        """A scripted fault, or the per-minute quota spent."""
        now = time.monotonic()
        with self._lock:
            self._calls = [moment for moment in self._calls if now - moment < 60] + [now]
            status = self._faults.pop(0) if self._faults else 0
        if not status and len(self._calls) > self.quota_per_minute:
            status = 429
        if status == 429:
            return 429, status_error(429, _QUOTA_MESSAGE)
        return (status, status_error(status, "scripted failure")) if status else None

    # --- entries.list --------------------------------------------------------------------------

    def list_entries(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append(body)
        refused = self._refused()
        if refused is not None:
            return refused
        projects = [name.split("/", 1)[1] for name in body.get("resourceNames") or [] if name.startswith("projects/")]
        if not projects:
            return 400, status_error(400, "resourceNames must name at least one project (projects/PROJECT_ID).")
        try:
            wanted = parse_filter(str(body.get("filter") or ""))
        except FilterError as err:
            return 400, status_error(400, f"Invalid filter: {err}")
        order = str(body.get("orderBy") or "timestamp asc")
        if order not in ("timestamp asc", "timestamp desc"):
            return 400, status_error(400, f"Invalid orderBy: {order}")
        found = [entry for entry in self._visible() if _in_projects(entry, projects) and wanted(entry)]
        found.sort(key=lambda entry: parse_stamp(entry["timestamp"]), reverse=order == "timestamp desc")
        size = min(int(body.get("pageSize") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        query = _query_key(body)
        start = _offset(str(body.get("pageToken") or ""), query)
        if start is None:
            return 400, status_error(400, "Invalid page token.")
        if self.empty_pages > 0:
            self.empty_pages -= 1
            self.served.append(0)
            return 200, {"nextPageToken": _token(start, query)}  # the search goes on from the same place
        page: dict[str, Any] = {"entries": found[start : start + size]}
        self.served.append(len(page["entries"]))
        if start + size < len(found):
            page["nextPageToken"] = _token(start + size, query)
        return 200, page

    def _visible(self) -> list[Entry]:
        with self._lock:
            entries = list(self.entries)
        for feed in self.feeds:
            entries.extend(feed())
        if self.hide_newer_than_s <= 0:
            return entries
        now = datetime.now(UTC).timestamp()
        return [
            _received(entry, self.hide_newer_than_s) for entry in entries if _age(entry, now) >= self.hide_newer_than_s
        ]


def _age(entry: Entry, now: float) -> float:
    return now - parse_stamp(entry["timestamp"]).timestamp()


def _received(entry: Entry, delay_s: float) -> Entry:
    """The entry as listed once ingested: received no earlier than its timestamp plus the ingestion delay."""
    ingested = parse_stamp(entry["timestamp"]).timestamp() + delay_s
    if parse_stamp(entry.get("receiveTimestamp") or entry["timestamp"]).timestamp() >= ingested:
        return entry
    moment = datetime.fromtimestamp(ingested, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {**entry, "receiveTimestamp": moment}


def run_entry(
    project: str, service: str, revision: str, timestamp: str, text: str, *, stream: str = "stderr", number: int = 0
) -> Entry:
    """A line a Cloud Run container wrote, as Cloud Logging keeps it (a JSON object line becomes `jsonPayload`)."""
    entry: Entry = {
        "logName": f"projects/{project}/logs/run.googleapis.com%2F{stream}",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "project_id": project,
                "service_name": service,
                "revision_name": revision,
                "location": "us-central1",
                "configuration_name": service,
            },
        },
        "timestamp": timestamp,
        "receiveTimestamp": timestamp,
        "insertId": hashlib.sha1(f"{revision}{timestamp}{number}{text}".encode()).hexdigest()[:16],
    }
    structured = _json_object(text)
    if structured is None:
        entry["textPayload"] = text
        return entry
    severity = str(structured.get("severity") or "").upper()
    if severity in SEVERITIES:
        entry["severity"] = severity
    trace = structured.get("logging.googleapis.com/trace")
    if isinstance(trace, str):
        entry["trace"] = trace
    entry["jsonPayload"] = {key: value for key, value in structured.items() if not key.startswith("logging.googleapis")}
    return entry


def docker_feed(runtime: Any, project: str) -> Feed:
    """Every line the emulated Cloud Run's containers wrote so far, as entries of their revisions."""

    def entries() -> list[Entry]:
        found: list[Entry] = []
        for revision, container in runtime.containers():
            service = revision.rsplit("-", 2)[0]
            raw = container.logs(stdout=True, stderr=True, timestamps=True)
            for number, line in enumerate(raw.decode("utf-8", "replace").splitlines()):
                stamp, _, text = line.partition(" ")
                found.append(run_entry(project, service, revision, stamp, text, number=number))
        return found

    return entries


# ----------------------------------------------------------------------------- the filter subset


def parse_filter(text: str) -> Callable[[Entry], bool]:
    """Comparisons joined by newlines or AND; anything else is a FilterError (never silently ignored)."""
    terms = [term.strip() for line in text.splitlines() for term in re.split(r"\s+AND\s+", line) if term.strip()]
    tests = []
    for term in terms:
        match = _COMPARISON.match(term)
        if match is None:
            raise FilterError(f"unsupported expression {term!r}")
        tests.append(_comparison(match["field"], match["op"], match["value"].replace('\\"', '"')))
    return lambda entry: all(test(entry) for test in tests)


def _comparison(field: str, op: str, value: str) -> Callable[[Entry], bool]:
    def test(entry: Entry) -> bool:
        actual = _field(entry, field)
        if actual is None:
            return op == "!="
        left, right = _comparable(field, str(actual)), _comparable(field, value)
        return {
            "=": left == right,
            "!=": left != right,
            ">=": left >= right,
            "<=": left <= right,
            ">": left > right,
            "<": left < right,
        }[op]

    return test


def _comparable(field: str, value: str) -> Any:
    if field in ("timestamp", "receiveTimestamp"):
        return parse_stamp(value).timestamp()
    if field == "severity":
        return SEVERITIES.index(value.upper()) if value.upper() in SEVERITIES else -1
    return value


def _field(entry: Entry, dotted: str) -> Any:
    value: Any = entry
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if dotted == "severity" and value is None:
        return "DEFAULT"
    return value


def _in_projects(entry: Entry, projects: list[str]) -> bool:
    return any(str(entry.get("logName", "")).startswith(f"projects/{project}/logs/") for project in projects)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _query_key(body: dict[str, Any]) -> str:
    fields = {key: body.get(key) for key in ("resourceNames", "filter", "orderBy")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def _token(offset: int, query: str) -> str:
    return base64.urlsafe_b64encode(f"{query}:{offset}".encode()).decode()


def _offset(token: str, query: str) -> int | None:
    if not token:
        return 0
    try:
        key, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
    except ValueError:
        return None
    return int(offset) if key == query and offset.isdigit() else None


def _handler_for(emulator: LoggingEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            try:
                body = self.read_json()
            except ValueError:
                body = None
            if self.path.split("?")[0] != "/v2/entries:list":
                status, answer = 404, status_error(404, f"POST {self.path} is not part of this emulator.")
            elif body is None:
                status, answer = 400, status_error(400, "Invalid JSON payload received.")
            else:
                status, answer = emulator.list_entries(body)
            self.send_json(status, answer)

    return Handler
