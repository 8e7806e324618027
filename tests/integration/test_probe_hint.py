"""Which failed checks get the server's logged error quoted in their hint (the end-to-end case: test_user_repo)."""

from __future__ import annotations

import pytest

from loopctl.phases.probe import quote_in_hint
from loopctl.records.record import CheckRecord, OutcomeRecord, ServerError

HINT = "Look for a traceback."


def record(code: int | None, *, passed: bool = False, error: ServerError | None = None) -> CheckRecord:
    category = "success" if passed else "internal_error"
    outcome = OutcomeRecord(code=code, category=category, depth=3, hint=HINT)
    return CheckRecord(name="chat", kind="websocket", passed=passed, outcome=outcome, server_error=error)


@pytest.mark.parametrize("code", [1006, 1011])
def test_a_handler_close_ends_its_hint_with_what_the_server_logged(code: int) -> None:
    quoted = quote_in_hint(record(code, error=ServerError(type="RuntimeError", message="boom")))
    assert quoted.outcome.hint == f"{HINT} The server's log at that time: RuntimeError: boom"


def test_an_error_without_a_message_is_quoted_by_its_type() -> None:
    quoted = quote_in_hint(record(1011, error=ServerError(type="MemoryError")))
    assert quoted.outcome.hint == f"{HINT} The server's log at that time: MemoryError"


@pytest.mark.parametrize(
    "unchanged",
    [
        record(1008, error=ServerError(type="RuntimeError", message="boom")),  # the app said why itself
        record(None, error=ServerError(type="RuntimeError", message="boom")),  # no close at all
        record(1011, passed=True, error=ServerError(type="RuntimeError", message="boom")),
        record(1011),  # nothing was logged
    ],
)
def test_other_checks_keep_their_hint(unchanged: CheckRecord) -> None:
    assert quote_in_hint(unchanged) == unchanged
