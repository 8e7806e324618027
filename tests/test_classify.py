"""The classifier table, pinned: every code and ending maps to one category at one depth."""

from __future__ import annotations

import pytest

from loopctl.probe import classify
from loopctl.probe.classify import AppCode
from loopctl.probe.explain import explain
from tests.integration.agent_service import EVENTS
from tests.support.wsservers import GFE_403_BODY

CLOSE_TABLE = [
    (1001, "going_away", 3),
    (1002, "protocol_error", 3),
    (1003, "unsupported_data", 3),
    (1004, "reserved", 3),
    (1005, "no_status", 3),
    (1006, "abnormal_closure", 3),
    (1007, "invalid_payload", 3),
    (1008, "policy_violation", 2),
    (1009, "message_too_big", 3),
    (1010, "mandatory_extension", 3),
    (1011, "internal_error", 3),
    (1012, "service_restart", 3),
    (1013, "try_again_later", 3),
    (1014, "bad_gateway", 3),
    (1015, "tls_error", 0),
    (3000, "unauthorized", 2),
    (3003, "forbidden", 2),
    (3008, "server_timeout", 3),
    (3500, "registered_code", 3),
    (4999, "application_error", 3),
    (2000, "invalid_code", 3),
]


@pytest.mark.parametrize(("code", "category", "depth"), CLOSE_TABLE)
def test_server_close_codes_map_to_their_category_and_depth(code: int, category: str, depth: int) -> None:
    outcome = classify.close(code, "why", origin="server", expected=EVENTS, seen=())
    assert (outcome.code, outcome.category, outcome.depth, outcome.origin) == (code, category, depth, "server")
    assert outcome.hint


def test_the_label_is_the_line_engineers_grep_for() -> None:
    outcome = classify.close(1008, "Authentication failed", origin="server")
    assert outcome.label == "received 1008 (policy violation) Authentication failed"
    assert "token validation" in outcome.hint and "auth middleware" in outcome.hint
    internal = classify.close(1011, "Internal error", origin="server")
    assert internal.label == "received 1011 (internal error) Internal error"
    assert "message handler" in internal.hint


@pytest.mark.parametrize("code", [1005, 1006, 1015])
def test_codes_never_on_the_wire_say_so(code: int) -> None:
    outcome = classify.close(code, "", origin=None)
    assert "never sent on the wire" in outcome.label
    assert explain(code).on_wire is False


def test_client_1011_is_a_keepalive_timeout_not_the_servers_internal_error() -> None:
    client = classify.close(1011, "keepalive ping timeout", origin="client")
    server = classify.close(1011, "keepalive ping timeout", origin="server")
    assert (client.category, client.origin) == ("keepalive_timeout", "client")
    assert client.label.startswith("sent 1011")
    assert (server.category, server.origin) == ("internal_error", "server")


def test_client_1009_is_an_oversized_message_from_the_server() -> None:
    outcome = classify.close(1009, "frame exceeds limit", origin="client")
    assert outcome.category == "oversized_message"
    assert classify.close(1009, "", origin="server").category == "message_too_big"


def test_application_codes_use_the_configured_mapping_and_infer_auth_depth() -> None:
    codes = {4001: AppCode("token_expired"), 4002: AppCode("quota_exceeded"), 4003: AppCode("custom", depth=4)}
    expired = classify.close(4001, "expired", origin="server", app_codes=codes)
    assert (expired.category, expired.depth) == ("token_expired", 2)
    assert classify.close(4002, "", origin="server", app_codes=codes).depth == 3
    assert classify.close(4003, "", origin="server", app_codes=codes).depth == 4
    unmapped = classify.close(4004, "", origin="server", app_codes=codes)
    assert unmapped.category == "application_error" and "probe.close_codes" in unmapped.hint


def test_normal_closure_before_any_event_is_closed_early() -> None:
    outcome = classify.close(1000, "bye", origin="server", expected=EVENTS, seen=())
    assert (outcome.category, outcome.depth) == ("closed_early", 3)


def test_normal_closure_after_some_events_lists_the_missing_ones() -> None:
    outcome = classify.close(1000, "", origin="server", expected=EVENTS, seen=EVENTS[:3])
    assert (outcome.category, outcome.depth) == ("missing_events", 4)
    assert outcome.label == "3/5 expected events; missing tool_completed, agent_completed"


def test_an_error_code_outranks_partial_events() -> None:
    outcome = classify.close(1011, "Internal error", origin="server", expected=EVENTS, seen=EVENTS[:1])
    assert (outcome.category, outcome.depth) == ("internal_error", 3)


def test_silence_is_no_response_or_missing_events() -> None:
    nothing = classify.with_ignored_frames(classify.silence(30, expected=EVENTS, seen=()), 2)
    assert (nothing.category, nothing.depth) == ("no_response", 3)
    assert nothing.reason == "nothing within 30s; 2 frame(s) were not JSON events"
    assert classify.with_ignored_frames(classify.success(), 2) == classify.success()
    partial = classify.silence(30, expected=EVENTS, seen=EVENTS[:3])
    assert (partial.category, partial.depth) == ("missing_events", 4)


def test_events_succeed_in_order_and_flag_out_of_order() -> None:
    assert classify.events(EVENTS, EVENTS[:4]) is None
    done = classify.events(EVENTS, ("hello", *EVENTS))
    assert done is not None and done.passed
    swapped = classify.events(EVENTS, (EVENTS[1], EVENTS[0], *EVENTS[2:]))
    assert swapped is not None and (swapped.category, swapped.depth) == ("out_of_order", 4)


def test_google_front_end_403_is_iam_and_an_empty_403_is_the_app() -> None:
    iam = classify.handshake_status(403, GFE_403_BODY)
    app = classify.handshake_status(403, "")
    assert (iam.category, iam.depth, iam.code) == ("iam_denied", 1, 403)
    assert "roles/run.invoker" in iam.hint and "X-Serverless-Authorization" in iam.hint
    assert (app.category, app.depth, app.code) == ("handshake_rejected", 1, 403)
    assert "roles/run.invoker" not in app.hint


def test_handshake_body_is_kept_to_200_characters() -> None:
    outcome = classify.handshake_status(500, "x" * 1000)
    assert len(outcome.reason) == 200 and outcome.label.startswith("HTTP 500 Internal Server Error")


@pytest.mark.parametrize(
    ("status", "expect", "category", "depth"),
    [
        (200, None, "success", 5),
        (204, None, "success", 5),
        (200, 204, "unexpected_status", 3),
        (401, None, "unauthorized", 2),
        (403, None, "forbidden", 2),
        (503, None, "server_error", 3),
        (404, 404, "success", 5),
    ],
)
def test_http_checks(status: int, expect: int | None, category: str, depth: int) -> None:
    outcome = classify.http_response(status, "", expect_status=expect)
    assert (outcome.category, outcome.depth) == (category, depth)


@pytest.mark.parametrize(
    ("name", "depth"),
    [
        ("dns_error", 0),
        ("connection_refused", 0),
        ("tls_error", 0),
        ("connect_timeout", 0),
        ("handshake_timeout", 1),
        ("invalid_handshake", 1),
        ("no_response", 3),
    ],
)
def test_connection_failures_sit_at_the_bottom_of_the_ladder(name: str, depth: int) -> None:
    outcome = classify.connect_failure(name, "detail")
    assert (outcome.category, outcome.depth, outcome.code) == (name, depth, None)


def test_depth_orders_the_story_from_auth_to_processing_to_success() -> None:
    auth = classify.close(1008, "Authentication failed", origin="server")
    internal = classify.close(1011, "Internal error", origin="server", expected=EVENTS, seen=EVENTS[:1])
    partial = classify.silence(30, expected=EVENTS, seen=EVENTS[:3])
    done = classify.events(EVENTS, EVENTS)
    assert done is not None
    assert auth.depth < internal.depth < partial.depth < done.depth


def test_explain_rejects_numbers_that_are_neither_status_nor_close_code() -> None:
    from loopctl.errors import UsageError

    with pytest.raises(UsageError, match="neither an HTTP status"):
        explain(700)
    assert explain(403).category == "handshake_rejected"
    assert "iam_denied" in explain(403).hint


def test_explain_names_the_framework_readings_a_live_probe_would_pick() -> None:
    # What a probe says only once it sees the server's software or body, `classify` says up front.
    from loopctl.probe.codes import DAPHNE_1011_HINT, EMPTY_403_HINT

    assert DAPHNE_1011_HINT in explain(1011).hint and DAPHNE_1011_HINT not in explain(1011, origin="client").hint
    assert DAPHNE_1011_HINT not in explain(1006).hint
    assert EMPTY_403_HINT in explain(403).hint and EMPTY_403_HINT not in explain(401).hint
