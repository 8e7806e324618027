"""The extractor on Go panics (real output kept as fixtures), structured JSON logs, chained and grouped errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loopctl.evidence import extract as extract_module
from loopctl.evidence.cause import cause
from loopctl.evidence.docker_logs import Bounded, parse_line
from loopctl.evidence.extract import LINE_LIMIT, LogLine, extract
from loopctl.evidence.process import platform_end
from loopctl.evidence.window import Window, parse_stamp
from loopctl.secrets import MASK, remember

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "server_logs"


def lines(text: str) -> list[LogLine]:
    return [LogLine(line) for line in text.splitlines()]


def test_go_http_panic_recovered_by_net_http() -> None:
    text = "listening on 127.0.0.1:40000\n" + (FIXTURES / "go_http_panic.log").read_text()
    error = extract(lines(text))
    assert error is not None
    assert error.type == "panic"
    assert error.message == "runtime error: index out of range [3] with length 1"
    assert error.location == "src/goservice/main.go:17"  # main.lastWord: the first frame past the runtime's
    assert "http: panic serving" in error.lines[0]
    assert error.lines[-1].strip().startswith("/usr/lib/go-1.19/src/net/http/server.go")


def test_go_unrecovered_panic() -> None:
    error = extract(lines((FIXTURES / "go_panic.log").read_text()))
    assert error is not None
    assert (error.type, error.message, error.location) == (
        "panic",
        "assignment to entry in nil map",
        "src/goservice/main.go:27",
    )


def test_structured_json_error_with_a_python_stack() -> None:
    stack = (
        "Traceback (most recent call last):\n"
        '  File "/app/app/ws/auth.py", line 419, in extract\n'
        "    raise TypeError(msg)\n"
        "TypeError: user_context must be a UserExecutionContext instance"
    )
    entry = {"severity": "ERROR", "message": "agent run failed", "stack_trace": stack}
    error = extract([LogLine('{"severity": "INFO", "message": "ready"}'), LogLine(json.dumps(entry))])
    assert error is not None
    assert (error.type, error.location) == ("TypeError", "app/ws/auth.py:419")
    assert error.lines[0] == "agent run failed"


def test_structured_json_severity_without_a_stack_and_pino_levels() -> None:
    pino = {"level": 50, "time": 1, "msg": "upstream refused the call"}
    error = extract([LogLine(json.dumps({"level": 30, "msg": "ok"})), LogLine(json.dumps(pino))])
    assert error is not None
    assert (error.type, error.message, error.location) == ("ERROR", "upstream refused the call", None)
    entry = LogLine(json.dumps({"message": "disk full"}), severity="CRITICAL")
    assert extract([entry]) == extract([LogLine("disk full", severity="CRITICAL")])
    assert extract([LogLine("all good", severity="WARNING"), LogLine("{not json")]) is None


def test_plain_severity_words_and_levels() -> None:
    error = extract(lines("INFO: started\nERROR: cannot reach the database\nINFO: retrying"))
    assert error is not None and (error.type, error.message) == ("ERROR", "ERROR: cannot reach the database")
    keyed = extract(lines('time=now level=error msg="pool exhausted"'))
    assert keyed is not None and keyed.type == "ERROR"
    assert extract(lines("INFO: no errors here\nGET /errors 200")) is None


def test_chained_python_exceptions_report_the_last_one() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/store.py", line 3, in load\n'
        "KeyError: 'user'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/app/handlers.py", line 42, in chat\n'
        '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
        "ValueError: no user"
    )
    error = extract(lines(text))
    assert error is not None
    assert (error.type, error.message, error.location) == ("ValueError", "no user", "srv/app/handlers.py:42")


def test_exception_groups_are_read_through_their_frame() -> None:
    text = (
        "  + Exception Group Traceback (most recent call last):\n"
        '  |   File "/venv/lib/python3.11/site-packages/anyio/_backends/_asyncio.py", line 772, in __aexit__\n'
        "  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)\n"
        "  +-+---------------- 1 ----------------\n"
        "    | Traceback (most recent call last):\n"
        '    |   File "/srv/app/handlers.py", line 12, in chat\n'
        "    | KeyError: 'text'\n"
        "    +------------------------------------"
    )
    error = extract(lines(text))
    assert error is not None
    assert (error.type, error.message, error.location) == ("KeyError", "'text'", "srv/app/handlers.py:12")


def test_only_library_frames_fall_back_to_the_deepest_one() -> None:
    text = (
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/asyncio/tasks.py", line 10, in run\n'
        "asyncio.exceptions.CancelledError"
    )
    error = extract(lines(text))
    assert error is not None
    assert (error.type, error.message, error.location) == (
        "asyncio.exceptions.CancelledError",
        "",
        "python3.11/asyncio/tasks.py:10",
    )


def test_excerpts_are_redacted_clipped_and_stripped_of_control_characters() -> None:
    remember("s3cr3t-token-value")
    text = "ERROR: login failed for s3cr3t-token-value \x1b[31m" + "x" * 1000
    error = extract(lines(text))
    assert error is not None
    assert "s3cr3t-token-value" not in error.message and MASK in error.message
    assert "\x1b" not in error.lines[0] and len(error.lines[0]) == LINE_LIMIT


def test_excerpts_keep_no_hidden_or_reordering_characters_and_no_secret_split_by_one() -> None:
    remember("s3cr3t-token-value")
    # C1 CSI (a terminal escape without ESC), a bidi override, a zero-width space, and a secret with a bell inside.
    text = "ERROR: denied \x9b31m \u202egnp.exe\u200b for s3cr3t-\x07token-value"
    error = extract(lines(text))
    assert error is not None
    for kept in (error.message, *error.lines):
        assert not {"\x9b", "\u202e", "\u200b", "\x07"} & set(kept)
        assert "s3cr3t-token-value" not in kept and MASK in kept


def test_nothing_logged_is_no_error() -> None:
    assert extract([]) is None
    assert extract(lines("INFO: listening on 0.0.0.0:8080\nINFO: connection open\nINFO: connection closed")) is None


def test_docker_lines_and_windows() -> None:
    line = parse_line("2026-12-01T05:20:45.123456789Z Traceback (most recent call last):")
    assert line.text == "Traceback (most recent call last):"
    assert line.timestamp == datetime(2026, 12, 1, 5, 20, 45, 123456, tzinfo=UTC)
    assert parse_line("no stamp here").timestamp is None
    window = Window.around("2026-12-01T05:20:44.000Z", "2026-12-01T05:20:45.000Z")
    assert window.start == parse_stamp("2026-12-01T05:20:43Z") and window.end == parse_stamp("2026-12-01T05:20:47Z")
    assert window.holds(line) and window.holds(LogLine("no time"))
    assert not window.holds(LogLine("later", timestamp=parse_stamp("2026-12-01T05:20:47.5+00:00")))


class CountingPattern:
    """A compiled pattern that counts the lines it is asked about: the extractor's work, measured without a clock."""

    def __init__(self, pattern: re.Pattern[str], tally: list[int]) -> None:
        self.pattern, self.tally = pattern, tally

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.pattern, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.tally[0] += 1
            return method(*args, **kwargs)

        return counted


def regex_calls(monkeypatch: pytest.MonkeyPatch, text: str) -> int:
    tally = [0]
    for name, value in vars(extract_module).items():
        if isinstance(value, re.Pattern):
            monkeypatch.setattr(extract_module, name, CountingPattern(value, tally))
    extract(lines(text))
    monkeypatch.undo()
    return tally[0]


@pytest.mark.parametrize(
    "repeated",
    [
        "  Traceback (most recent call last):\n",
        "Traceback (most recent call last):\n",
        'Traceback (most recent call last):\n  File "/app/x.py", line 1, in f\n',
        "    Traceback (most recent call last):\n  Traceback (most recent call last):\n",
        "TypeError: x\n    at f (/app/a.js:1:2)\n",
        "panic: boom\n\t/app/main.go:3 +0x1\n",
    ],
)
def test_extraction_looks_at_each_line_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch, repeated: str
) -> None:
    count = 3000
    calls = regex_calls(monkeypatch, repeated * count)
    assert calls <= 8 * count * repeated.count("\n")


def test_indented_tracebacks_are_extracted() -> None:
    text = (
        "INFO: handling /ws\n"
        "    Traceback (most recent call last):\n"
        '      File "/srv/app/handlers.py", line 42, in chat\n'
        "        return rooms[name]\n"
        "    KeyError: 'lobby'\n"
        "INFO: connection closed"
    )
    error = extract(lines(text))
    assert error is not None
    assert (error.type, error.message, error.location) == ("KeyError", "'lobby'", "srv/app/handlers.py:42")
    assert error.lines[-1] == "    KeyError: 'lobby'"


def test_a_long_stream_keeps_its_head_and_tail_and_says_what_it_left_out() -> None:
    kept = Bounded(64, 128)
    for number in range(1000):
        kept.add(f"2026-12-01T05:20:45.000000000Z line {number:04}\n".encode())
    partial = kept.partial()
    texts = [line.text for line in kept.lines()]
    assert texts[0] == "line 0000" and texts[-1] == "line 0999"
    assert all(text.startswith("line ") for text in texts[:1] + texts[-3:])  # no line cut in half at either edge
    gap = next(text for text in texts if text.startswith("[… "))
    assert texts[texts.index(gap) - 1] == "line 0000" and texts[texts.index(gap) + 1] == "line 0997"
    assert partial == "the first 0.0 MB and the last 0.0 MB of 0.0 MB logged in the window"
    whole = Bounded(64, 128)
    whole.add(b"a\nb\n")
    assert [line.text for line in whole.lines()] == ["a", "b"] and whole.partial() == ""


def test_cloud_runs_own_lines_say_how_the_process_ended() -> None:
    at = parse_stamp("2026-12-01T05:20:45.5Z")
    called = [LogLine("TypeError: boom"), LogLine("Container called exit(1).", timestamp=at), LogLine("later")]
    ended = platform_end(called)
    assert ended is not None and (ended.exit_code, ended.oom_killed, ended.finished_at) == (
        1,
        False,
        "2026-12-01T05:20:45.500000Z",
    )
    assert ended.lines == ("TypeError: boom", "Container called exit(1).")
    memory = "Memory limit of 512 MiB exceeded with 530 MiB used. Consider increasing the memory limit, see https://x"
    killed = platform_end([LogLine(memory)])
    assert killed is not None and killed.oom_killed and killed.exit_code is None
    assert platform_end(lines("INFO: Container called it a day\nexit(1)")) is None


def test_a_refusal_is_quoted_from_its_warning_not_from_the_access_log() -> None:
    window = [
        LogLine('INFO:     127.0.0.1:51234 - "GET /chat HTTP/1.1" 401 Unauthorized'),
        LogLine("WARNING:app.auth:token expired for user 42"),
        LogLine('INFO:     127.0.0.1:51236 - "WebSocket /ws" 403'),
        LogLine(json.dumps({"level": 40, "msg": "slow query"})),  # pino's warn: kept, but the auth line says more
        LogLine("INFO: listening"),
    ]
    found = cause(window, '{"detail": "Unauthorized"}', refused=True)
    assert found is not None and (found.type, found.message) == (
        "WARNING",
        "WARNING:app.auth:token expired for user 42",
    )
    assert found.lines == ("WARNING:app.auth:token expired for user 42", "slow query")
    assert (
        cause([LogLine('"GET /fail HTTP/1.1" 500 Internal Server Error')], "Internal Server Error", refused=False)
        is None
    )


def test_an_unlevelled_line_is_quoted_for_the_words_it_shares_with_the_reason_and_the_last_of_equals_wins() -> None:
    window = lines(
        "listening on :8080\nroom lobby is full: 12 players\ntick 41\nroom arena is full: 12 players\ntick 42"
    )
    found = cause(window, "room is full", refused=False)
    assert found is not None and (found.type, found.message) == ("LOG", "room arena is full: 12 players")
    assert found.lines == ("room lobby is full: 12 players", "room arena is full: 12 players")


def test_the_last_exit_cloud_run_logged_is_the_one_that_ended_the_process() -> None:
    window = lines("Container called exit(3).\nstarting again\nContainer called exit(1).\nafter")
    ended = platform_end(window)
    assert ended is not None and ended.exit_code == 1
    assert ended.lines == ("Container called exit(3).", "starting again", "Container called exit(1).")
