"""One result from the probe to the record: one conversion, one definition of passed, one server error model."""

from __future__ import annotations

import pytest

from loopctl.probe import classify
from loopctl.probe.spec import ProbeResult
from loopctl.records.record import CheckRecord, Frame, OutcomeRecord, ServerError
from loopctl.secrets import Secret

OUTCOMES = [
    classify.http_response(200, "ok", expect_status=200),
    classify.http_response(500, "boom", expect_status=200),
    classify.close(1011, "internal error", origin="server", expected=["done"], seen=[]),
    classify.close(1008, "Authentication failed", origin="server"),
    classify.connect_failure("connection_refused", "refused"),
]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda outcome: outcome.category)
def test_the_probe_outcome_is_the_recorded_outcome_and_survives_the_file(outcome: OutcomeRecord) -> None:
    assert type(outcome) is OutcomeRecord
    assert OutcomeRecord.model_validate_json(outcome.model_dump_json()) == outcome


def test_how_far_a_check_got_decides_whether_it_passed_not_the_category_name() -> None:
    # A hand-edited record: the category says success, the depth says the handshake failed.
    assert OutcomeRecord(category="success", depth=classify.DEPTH_AUTH).passed is False


def test_a_check_is_recorded_as_the_probe_documents_it_plus_its_name() -> None:
    token = Secret("tok-" + "x" * 24, source="test")
    result = ProbeResult(
        url=f"https://svc.example/ws?token={token.reveal()}",
        kind="websocket",
        outcome=classify.close(1011, "internal error", origin="server", expected=["a", "b"], seen=["a"]),
        events_expected=("a", "b"),
        events_seen=("a",),
        events_missing=["b"],
        events_count=1,
        trace_id="0af7651916cd43dd8448eb211c80319c",
    )
    record = result.to_record("chat", priority=2, impact="Users can chat")
    document = {key: value for key, value in result.to_dict().items() if key != "schema"}
    kept = record.model_dump(mode="json", include=set(document))
    assert kept == document and token.reveal() not in record.model_dump_json()
    assert (record.name, record.priority, record.impact, record.passed) == ("chat", 2, "Users can chat", False)


def test_the_server_error_found_in_a_log_is_the_one_the_record_keeps_without_its_printed_frame() -> None:
    found = ServerError(
        type="KeyError",
        message="'text'",
        location="app/main.py:12",
        lines=("KeyError: 'text'",),
        frame=Frame("/srv/app/main.py", "12", None, "handle"),
    )
    check = CheckRecord.model_validate(
        {
            "name": "chat",
            "kind": "websocket",
            "passed": False,
            "outcome": OUTCOMES[2].model_dump(),
            "server_error": found,
        }
    )
    written = check.model_dump(mode="json")["server_error"]
    assert written == {
        "type": "KeyError",
        "message": "'text'",
        "location": "app/main.py:12",
        "lines": ["KeyError: 'text'"],
    }
    assert CheckRecord.model_validate(check.model_dump(mode="json")).server_error == found.model_copy(
        update={"frame": None}
    )
