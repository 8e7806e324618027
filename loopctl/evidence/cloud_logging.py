"""Server logs on the cloudrun target: the revision's Cloud Logging entries for a window, read with the official client.

Entries reach Cloud Logging some seconds after they are written, so the read is repeated until the window's errors
are there, an entry newer than the window shows ingestion has passed it, or `wait_s` is spent. `entries.list` is
limited to 60 requests a minute per project, shared with everyone reading it, so the reader spends few: the filter
has no upper time bound (the first entry past the window ends the read, cut here), each poll resumes at the newest
`receiveTimestamp` already read, polls back off exponentially, 429 is waited out, and every read has a budget of
calls and pages (an unfinished search answers empty pages with a token, possibly for ever).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from loopctl.clients.google import client_settings, server_message, server_text
from loopctl.evidence.extract import LogLine
from loopctl.evidence.window import LogRead, LogsUnavailable, Window

MAX_ENTRIES = 2000
PAGE_SIZE = 500
POLL_S = 1.0  # the first wait between polls, doubled each time up to MAX_POLL_S
MAX_POLL_S = 8.0
MAX_CALLS = 15  # entries.list requests per read (one per iteration): a quarter of the project's minute
MAX_PAGES_PER_POLL = 5  # 2000 entries at 500 a page, and one more to see past the window
CALL_TIMEOUT_S = 30.0
RECEIVED_OVERLAP = timedelta(seconds=1)  # an entry received just before the newest read may be listed late
QUOTA_HINT = (
    "Cloud Logging's entries.list quota is 60 requests a minute per project, shared with the Logs Explorer and "
    "every other reader: wait a minute, or read less often"
)
VIEWER_HINT = "the probe's identity needs roles/logging.viewer on the project"


class CloudRunLogs:
    """One revision's entries (`resource.type="cloud_run_revision"`) in one project."""

    def __init__(
        self, *, project: str, service: str, revision: str, api_endpoint: str | None = None, wait_s: float = 10.0
    ) -> None:
        self.project = project
        self.service = service
        self.revision = revision
        self.api_endpoint = api_endpoint
        self.wait_s = wait_s
        self.page_size = PAGE_SIZE

    def log_filter(self, window: Window, *, received_since: datetime | None = None) -> str:
        """The Logging query language subset this reader needs: resource, labels, the window's start, and where the
        previous poll stopped. No upper bound: an entry past the window is how ingestion shows it has caught up."""
        terms = [
            'resource.type="cloud_run_revision"',
            f'resource.labels.service_name="{self.service}"',
            f'resource.labels.revision_name="{self.revision}"',
            f'timestamp>="{_rfc3339(window.start)}"',
        ]
        if received_since is not None:
            terms.append(f'receiveTimestamp>="{_rfc3339(received_since)}"')
        return "\n".join(terms)

    def read(self, window: Window, *, enough: Callable[[Sequence[LogLine]], bool] = lambda lines: True) -> LogRead:
        source = f"Cloud Logging for revision {self.revision}"
        reading = _Reading(self, self._client(), window)
        give_up = time.monotonic() + self.wait_s
        delay = POLL_S
        while True:
            reading.poll(deadline=give_up + CALL_TIMEOUT_S)
            lines = reading.lines()
            answered = bool(lines) or (reading.throttled is None and not reading.searching)
            if (answered and enough(lines)) or reading.past_window or reading.truncated:
                return LogRead(lines, source, _truncated_note(reading.truncated))
            remaining = give_up - time.monotonic()
            if remaining <= 0 or reading.calls >= MAX_CALLS:
                return LogRead(lines, source, reading.unfinished_note(self.wait_s))
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, MAX_POLL_S)

    def _client(self) -> Any:
        from google.auth import exceptions as auth_exceptions
        from google.cloud import logging as cloud_logging

        credentials, options = client_settings(self.api_endpoint)
        try:
            return cloud_logging.Client(  # type: ignore[no-untyped-call]
                project=self.project, credentials=credentials, _use_grpc=False, client_options=options
            )
        except auth_exceptions.GoogleAuthError as err:
            raise LogsUnavailable(f"no Google credentials to read Cloud Logging: {_first_line(err)}") from None


class _Reading:
    """One read's state across polls: entries by identity, where to resume, and the calls spent."""

    def __init__(self, logs: CloudRunLogs, client: Any, window: Window) -> None:
        self.logs = logs
        self.client = client
        self.window = window
        self.found: dict[tuple[str, str, str], tuple[float, LogLine]] = {}
        self.calls = 0
        self.token = ""  # a page token of the current query, when its last poll ran out of pages
        self.received_since: datetime | None = None
        self.newest_received: datetime | None = None
        self.past_window = False
        self.truncated = False
        self.searching = False  # the last answer was an empty page with a token: Logging had not finished
        self.throttled: Exception | None = None
        self.loggers: dict[str, Any] = {}  # one Logger per log name, as the client's own iterator shares them

    def poll(self, *, deadline: float) -> None:
        """Up to MAX_PAGES_PER_POLL pages of the current query; a 429 ends the poll (the caller's backoff waits)."""
        for _ in range(MAX_PAGES_PER_POLL):
            if self.calls >= MAX_CALLS or time.monotonic() >= deadline:
                return
            entries, token = self._page(deadline)
            if entries is None:
                return
            self.searching = not entries and bool(token)
            self._keep(entries)
            if self.past_window or self.truncated or not token:
                self.token = ""
                self.received_since = _minus(self.newest_received, RECEIVED_OVERLAP)
                return
            self.token = token

    def _page(self, deadline: float) -> tuple[list[Any] | None, str]:
        from google.api_core import exceptions as api_exceptions

        body: dict[str, Any] = {
            "resourceNames": [f"projects/{self.logs.project}"],
            "filter": self.logs.log_filter(self.window, received_since=self.received_since),
            "orderBy": "timestamp asc",
            "pageSize": self.logs.page_size,
        }
        if self.token:
            body["pageToken"] = self.token
        self.calls += 1
        try:
            answer = self._list(body, timeout=max(1.0, min(CALL_TIMEOUT_S, deadline - time.monotonic())))
        except api_exceptions.TooManyRequests as err:
            self.throttled = err
            return None, ""
        self.throttled = None
        return [self._entry(resource) for resource in answer.get("entries") or []], str(
            answer.get("nextPageToken") or ""
        )

    def _list(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """One `entries.list` page through the client's own connection: the client's iterator follows every token
        by itself, and an unfinished search can answer empty pages with a token for ever."""
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions
        from requests import exceptions as http_exceptions

        try:
            answer = self.client._connection.api_request(
                method="POST", path="/entries:list", data=body, timeout=timeout
            )
        except api_exceptions.TooManyRequests:
            raise
        except api_exceptions.Forbidden as err:
            raise LogsUnavailable(f"Cloud Logging did not answer: {_first_line(err)}", hint=VIEWER_HINT) from None
        except (
            api_exceptions.GoogleAPIError,
            auth_exceptions.GoogleAuthError,
            http_exceptions.RequestException,
        ) as err:
            raise LogsUnavailable(
                f"Cloud Logging did not answer: {_first_line(err)}",
                hint="check deploy.cloudrun.logging_endpoint, the network and the credentials (roles/logging.viewer)",
            ) from None
        return answer if isinstance(answer, dict) else {}

    def _entry(self, resource: dict[str, Any]) -> Any:
        from google.cloud.logging_v2._helpers import entry_from_resource

        return entry_from_resource(resource, self.client, self.loggers)  # type: ignore[no-untyped-call]

    def _keep(self, entries: list[Any]) -> None:
        end = self.window.end.timestamp()
        for entry in entries:
            moment = entry.timestamp.timestamp() if entry.timestamp is not None else None
            if moment is not None and moment > end:
                self.past_window = True  # ordered by time: everything after this one is past the window too
                return
            received = entry.received_timestamp
            if received is not None and (self.newest_received is None or received > self.newest_received):
                self.newest_received = received
            key = (str(entry.log_name), str(entry.insert_id), str(moment))
            self.found[key] = (moment or 0.0, entry_line(entry))
            if len(self.found) > MAX_ENTRIES:
                self.truncated = True
                return

    def lines(self) -> tuple[LogLine, ...]:
        ordered = sorted(self.found.values(), key=lambda item: item[0])
        return tuple(line for _, line in ordered[:MAX_ENTRIES])

    def unfinished_note(self, wait_s: float) -> str:
        """Why the read stopped without proof that the window is complete; raises when not one page was read."""
        if self.throttled is not None and self.calls and not self.found and not self._answered():
            raise LogsUnavailable(f"Cloud Logging did not answer: {_first_line(self.throttled)}", hint=QUOTA_HINT)
        if self.throttled is not None:
            return f"entries may be incomplete: Cloud Logging's read quota was spent (429) after {self.calls} calls"
        if self.searching:
            return (
                f"entries may be incomplete: Cloud Logging had not finished searching the window after "
                f"{self.calls} calls ({wait_s:g}s)"
            )
        return (
            f"entries may be incomplete: Cloud Logging had not shown anything past the window after "
            f"{wait_s:g}s (ingestion delay)"
        )

    def _answered(self) -> bool:
        return self.received_since is not None or bool(self.token) or self.searching


def entry_line(entry: Any) -> LogLine:
    """A `LogEntry` (text, JSON or proto payload) as a line for the extractor, keeping severity and trace."""
    payload = entry.payload
    if isinstance(payload, dict):
        text = json.dumps(payload, ensure_ascii=False)
    elif payload is None and isinstance(entry.http_request, dict):
        text = _request_line(entry.http_request)  # Cloud Run's request log: no payload, the request says it
    else:
        text = "" if payload is None else str(payload)
    severity = entry.severity if entry.severity not in (None, "DEFAULT") else None
    return LogLine(text, timestamp=entry.timestamp, severity=severity, trace=entry.trace)


def _request_line(request: dict[str, Any]) -> str:
    """`GET https://…/ws 503 (12 s)` from a LogEntry's `httpRequest`."""
    parts = [request.get("requestMethod"), request.get("requestUrl"), request.get("status"), request.get("latency")]
    return " ".join(str(part) for part in parts if part not in (None, ""))


def _rfc3339(moment: Any) -> str:
    return str(moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def _minus(moment: datetime | None, delta: timedelta) -> datetime | None:
    return None if moment is None else (moment - delta).astimezone(UTC)


def _truncated_note(truncated: bool) -> str:
    return f"only the first {MAX_ENTRIES} entries of the window were read" if truncated else ""


def _first_line(err: BaseException) -> str:
    """Google's own words when it answered (without the client's `METHOD URL:` prefix), else the error's."""
    from google.api_core import exceptions as api_exceptions

    if isinstance(err, api_exceptions.GoogleAPICallError):
        status = f"{err.code} " if err.code else ""
        return f"{status}{server_message(err)}"
    return server_text(str(err)) or type(err).__name__
