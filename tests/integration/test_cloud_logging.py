"""Reading a Cloud Run revision's logs with the real `google-cloud-logging` client, pointed at the Logging emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from loopctl.evidence.cloud_logging import CloudRunLogs
from loopctl.evidence.extract import extract
from loopctl.evidence.window import LogsUnavailable, Window
from tests.support.logging_emulator import LoggingEmulator, run_entry

PROJECT, SERVICE, REVISION = "logs-proj", "backend-staging", "backend-staging-00002-abc"
TRACEBACK = [
    "ERROR agent_service: agent run 1 failed",
    "Traceback (most recent call last):",
    '  File "/app/agent_service/conversation.py", line 82, in answer',
    "    tool_arguments(content, context)",
    '  File "/app/agent_service/conversation.py", line 104, in tool_arguments',
    '    raise TypeError("user_context must be a UserExecutionContext instance")',
    "TypeError: user_context must be a UserExecutionContext instance",
]


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@pytest.fixture
def emulator() -> Iterator[LoggingEmulator]:
    with LoggingEmulator() as running:
        yield running


def window_now() -> tuple[Window, datetime]:
    now = datetime.now(UTC) - timedelta(seconds=30)
    return Window(now, now + timedelta(seconds=5)), now


def reader(emulator: LoggingEmulator, *, wait_s: float = 10.0) -> CloudRunLogs:
    return CloudRunLogs(
        project=PROJECT, service=SERVICE, revision=REVISION, api_endpoint=emulator.endpoint, wait_s=wait_s
    )


def test_the_revisions_entries_in_the_window_are_read_across_pages(emulator: LoggingEmulator) -> None:
    window, start = window_now()
    inside = [
        run_entry(PROJECT, SERVICE, REVISION, stamp(start + timedelta(milliseconds=10 * n)), f"INFO line {n}", number=n)
        for n in range(30)
    ]
    error_at = start + timedelta(seconds=2)
    raised = [
        run_entry(PROJECT, SERVICE, REVISION, stamp(error_at + timedelta(microseconds=n)), text, number=n)
        for n, text in enumerate(TRACEBACK)
    ]
    noise = [
        run_entry(PROJECT, SERVICE, "backend-staging-00001-xyz", stamp(error_at), "ERROR other revision"),
        run_entry(PROJECT, "other-service", "other-service-00001-abc", stamp(error_at), "ERROR other service"),
        run_entry("other-proj", SERVICE, REVISION, stamp(error_at), "ERROR other project"),
        run_entry(PROJECT, SERVICE, REVISION, stamp(start - timedelta(seconds=10)), "ERROR before the window"),
        run_entry(PROJECT, SERVICE, REVISION, stamp(window.end + timedelta(seconds=1)), "INFO after the window"),
    ]
    emulator.add(*noise, *raised, *inside)

    logs = reader(emulator)
    logs.page_size = 8
    read = logs.read(window, enough=lambda lines: extract(lines) is not None)

    assert [line.text for line in read.lines] == [*(f"INFO line {n}" for n in range(30)), *TRACEBACK]
    assert read.note == ""  # an entry past the window was there: ingestion has caught up
    tokens = [body.get("pageToken") for body in emulator.requests]
    assert len(emulator.requests) == 5 and tokens[0] is None and all(tokens[1:])  # 37 entries, 8 a page
    assert emulator.requests[0]["resourceNames"] == [f"projects/{PROJECT}"]
    assert 'resource.type="cloud_run_revision"' in emulator.requests[0]["filter"]
    error = extract(read.lines)
    assert error is not None
    assert (error.type, error.location) == ("TypeError", "app/agent_service/conversation.py:104")
    assert "Cloud Logging" in read.source and REVISION in read.source


def test_structured_entries_keep_their_severity_and_trace(emulator: LoggingEmulator) -> None:
    window, start = window_now()
    trace = f"projects/{PROJECT}/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    line = json.dumps({"severity": "ERROR", "message": "upstream refused", "logging.googleapis.com/trace": trace})
    emulator.add(run_entry(PROJECT, SERVICE, REVISION, stamp(start + timedelta(seconds=1)), line))
    read = reader(emulator, wait_s=0).read(window)
    assert len(read.lines) == 1
    assert (read.lines[0].severity, read.lines[0].trace) == ("ERROR", trace)
    error = extract(read.lines)
    assert error is not None and (error.type, error.message) == ("ERROR", "upstream refused")


def test_cloud_runs_request_log_reads_as_its_request(emulator: LoggingEmulator) -> None:
    window, start = window_now()
    entry = run_entry(PROJECT, SERVICE, REVISION, stamp(start + timedelta(seconds=1)), "")
    del entry["textPayload"]
    entry |= {
        "logName": f"projects/{PROJECT}/logs/run.googleapis.com%2Frequests",
        "severity": "ERROR",
        "httpRequest": {"requestMethod": "GET", "requestUrl": "https://svc.run.app/ws", "status": 503, "latency": "3s"},
    }
    emulator.add(entry)
    read = reader(emulator, wait_s=0).read(window)
    error = extract(read.lines)
    assert error is not None and (error.type, error.message) == ("ERROR", "GET https://svc.run.app/ws 503 3s")


def test_entries_not_yet_ingested_are_waited_for_then_reported_as_possibly_incomplete(
    emulator: LoggingEmulator,
) -> None:
    now = datetime.now(UTC)
    window = Window(now - timedelta(seconds=2), now)
    emulator.add(*(run_entry(PROJECT, SERVICE, REVISION, stamp(now - timedelta(seconds=1)), t) for t in TRACEBACK))
    emulator.hide_newer_than_s = 3600.0  # nothing is ingested within the wait
    read = reader(emulator, wait_s=1.5).read(window, enough=lambda lines: extract(lines) is not None)
    assert read.lines == ()
    assert "may be incomplete" in read.note and "1.5s" in read.note
    assert len(emulator.requests) >= 2  # it asked again before giving up


def test_a_service_that_logs_nothing_reads_as_no_error(emulator: LoggingEmulator) -> None:
    window, _ = window_now()
    read = reader(emulator, wait_s=0).read(window)
    assert read.lines == () and extract(read.lines) is None


def test_an_unreachable_logging_api_is_said_not_raised() -> None:
    with LoggingEmulator() as gone:
        endpoint = gone.endpoint
    logs = CloudRunLogs(project=PROJECT, service=SERVICE, revision=REVISION, api_endpoint=endpoint, wait_s=0)
    with pytest.raises(LogsUnavailable) as caught:
        logs.read(window_now()[0])
    assert caught.value.message.startswith("Cloud Logging did not answer")


def test_the_emulator_refuses_a_filter_it_cannot_read(emulator: LoggingEmulator) -> None:
    status, body = emulator.list_entries({"resourceNames": [f"projects/{PROJECT}"], "filter": "textPayload:boom"})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"


# --- ingestion, the per-project quota and unfinished searches ------------------------------------


def spread(start: datetime, count: int, *, step_ms: int, prefix: str = "INFO line") -> list[dict[str, object]]:
    return [
        run_entry(
            PROJECT, SERVICE, REVISION, stamp(start + timedelta(milliseconds=step_ms * n)), f"{prefix} {n}", number=n
        )
        for n in range(count)
    ]


def test_an_entry_after_the_window_ends_the_wait_at_once(emulator: LoggingEmulator) -> None:
    """No recognised error in the window, but Logging already holds a later entry: ingestion has passed the window."""
    window, start = window_now()
    emulator.add(*spread(start, 3, step_ms=100), *spread(window.end + timedelta(seconds=1), 1, step_ms=1))
    read = reader(emulator, wait_s=30).read(window, enough=lambda lines: extract(lines) is not None)
    assert [line.text for line in read.lines] == ["INFO line 0", "INFO line 1", "INFO line 2"]
    assert read.note == ""
    assert len(emulator.requests) == 1
    assert "timestamp<=" not in emulator.requests[0]["filter"]  # widened, cut here


def test_waiting_for_ingestion_backs_off_and_reads_the_window_once(emulator: LoggingEmulator) -> None:
    """1,500 entries, none past the window and no error: each poll asks only for what was received since."""
    now = datetime.now(UTC)
    window = Window(now - timedelta(seconds=40), now + timedelta(seconds=60))
    emulator.add(*spread(now - timedelta(seconds=35), 1500, step_ms=20))
    read = reader(emulator, wait_s=8).read(window, enough=lambda lines: extract(lines) is not None)
    assert len(read.lines) == 1500 and "may be incomplete" in read.note
    polls = [body for body in emulator.requests if not body.get("pageToken")]
    assert 2 <= len(polls) <= 5  # 1 + 2 + 4 s apart, not every second
    # later polls start a second before the newest receiveTimestamp read: only that second is read again
    assert sum(emulator.served) < 2 * 1500
    assert all("receiveTimestamp>=" in body["filter"] for body in polls[1:])


def test_a_429_is_retried_and_the_window_still_read(emulator: LoggingEmulator) -> None:
    window, start = window_now()
    emulator.add(
        *(
            run_entry(PROJECT, SERVICE, REVISION, stamp(start + timedelta(microseconds=n)), t)
            for n, t in enumerate(TRACEBACK)
        )
    )
    emulator.fail_next(429, 2)
    read = reader(emulator, wait_s=10).read(window, enough=lambda lines: extract(lines) is not None)
    error = extract(read.lines)
    assert error is not None and error.type == "TypeError"
    assert len(emulator.requests) == 3


def test_a_quota_that_stays_spent_names_the_quota_not_a_role(emulator: LoggingEmulator) -> None:
    emulator.fail_next(429, 1000)
    with pytest.raises(LogsUnavailable) as caught:
        reader(emulator, wait_s=3).read(window_now()[0])
    assert "429" in caught.value.message
    assert "60 requests a minute" in caught.value.hint and "logging.viewer" not in caught.value.hint
    assert 2 <= len(emulator.requests) <= 4


def test_empty_pages_with_a_token_are_bounded_per_check(emulator: LoggingEmulator) -> None:
    """Logging answers an unfinished search with no entries and a nextPageToken; a reader that follows every token
    of an endless search never returns."""
    window, start = window_now()
    emulator.add(*spread(start, 3, step_ms=100))
    emulator.empty_pages = 300
    read = reader(emulator, wait_s=2).read(window, enough=lambda lines: extract(lines) is not None)
    assert read.lines == ()
    assert "had not finished searching" in read.note
    assert len(emulator.requests) <= 15
