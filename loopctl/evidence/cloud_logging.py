"""Server logs on the cloudrun target: the revision's Cloud Logging entries for a window, read with the official client.

Entries reach Cloud Logging some seconds after they are written, so the read is repeated (paged each time) until
the window's errors are there, an entry newer than the window shows ingestion has passed it, or `wait_s` is spent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from loopctl.evidence.extract import LogLine
from loopctl.evidence.window import LogRead, LogsUnavailable, Window
from loopctl.google_access import client_settings, server_text

MAX_ENTRIES = 2000
PAGE_SIZE = 500
POLL_S = 1.0


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

    def log_filter(self, window: Window) -> str:
        """The Logging query language subset this reader needs: resource, labels and the time window."""
        return "\n".join(
            [
                'resource.type="cloud_run_revision"',
                f'resource.labels.service_name="{self.service}"',
                f'resource.labels.revision_name="{self.revision}"',
                f'timestamp>="{_rfc3339(window.start)}"',
                f'timestamp<="{_rfc3339(window.end)}"',
            ]
        )

    def read(self, window: Window, *, enough: Callable[[Sequence[LogLine]], bool] = lambda lines: True) -> LogRead:
        source = f"Cloud Logging for revision {self.revision}"
        client = self._client()
        give_up = time.monotonic() + self.wait_s
        while True:
            lines, newest, truncated = self._list(client, window)
            past_window = newest is not None and newest >= window.end.timestamp()
            if enough(lines) or past_window:
                return LogRead(lines, source, _truncated_note(truncated))
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                note = (
                    f"entries may be incomplete: Cloud Logging had not shown anything past the window after "
                    f"{self.wait_s:g}s (ingestion delay)"
                )
                return LogRead(lines, source, note)
            time.sleep(min(POLL_S, remaining))

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

    def _list(self, client: Any, window: Window) -> tuple[tuple[LogLine, ...], float | None, bool]:
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions
        from requests import exceptions as http_exceptions

        lines: list[LogLine] = []
        newest: float | None = None
        try:
            entries = client.list_entries(
                resource_names=[f"projects/{self.project}"],
                filter_=self.log_filter(window),
                order_by="timestamp asc",
                page_size=self.page_size,
                max_results=MAX_ENTRIES + 1,
            )
            for entry in entries:
                lines.append(entry_line(entry))
                if entry.timestamp is not None:
                    newest = max(newest or 0.0, entry.timestamp.timestamp())
        except (
            api_exceptions.GoogleAPIError,
            auth_exceptions.GoogleAuthError,
            http_exceptions.RequestException,
        ) as err:
            raise LogsUnavailable(
                f"Cloud Logging did not answer: {_first_line(err)}",
                hint="the probe's identity needs roles/logging.viewer on the project",
            ) from None
        return tuple(lines[:MAX_ENTRIES]), newest, len(lines) > MAX_ENTRIES


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


def _truncated_note(truncated: bool) -> str:
    return f"only the first {MAX_ENTRIES} entries of the window were read" if truncated else ""


def _first_line(err: BaseException) -> str:
    return server_text(str(err)) or type(err).__name__
