"""The probe against real servers on 127.0.0.1: one server per way a check can end."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from loopctl.probe.classify import AppCode
from loopctl.probe.options import run_check_sync
from loopctl.probe.spec import Check, ProbeResult
from loopctl.secrets import Secret
from tests.integration.agent_service import EVENTS
from tests.support.wsservers import (
    GFE_403_BODY,
    close_frame,
    event,
    frame,
    scripted,
    tcp_server,
    websocket_server,
)

HELLO = {"type": "user_message", "payload": {"content": "hello"}}


def probe(port: int, *, scheme: str = "ws", **options: object) -> ProbeResult:
    options.setdefault("timeout", 5.0)
    return run_check_sync(Check(url=f"{scheme}://127.0.0.1:{port}/ws", **options))  # type: ignore[arg-type]


def agent(*, events: tuple[str, ...] = EVENTS, close_code: int | None = None, reason: str = "") -> object:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        for name in events:
            await ws.send(event(name))
        if close_code is not None:
            await ws.close(close_code, reason)
            return
        await ws.wait_closed()

    return handler


def test_all_expected_events_in_order_pass() -> None:
    with websocket_server(agent()) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO, expect_events=EVENTS)
    assert result.passed and result.outcome.category == "success"
    assert result.events_seen == EVENTS and result.events_missing == []
    assert result.latency.connect is not None and result.latency.first_event is not None


def test_1008_after_the_upgrade_is_an_auth_failure_from_the_server() -> None:
    with websocket_server(agent(events=(), close_code=1008, reason="Authentication failed")) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO, expect_events=EVENTS)
    outcome = result.outcome
    assert (outcome.code, outcome.category, outcome.depth, outcome.origin) == (1008, "policy_violation", 2, "server")
    assert outcome.label == "received 1008 (policy violation) Authentication failed"
    assert outcome.reason == "Authentication failed"


def test_1011_after_agent_started_is_an_internal_error_with_the_events_it_reached() -> None:
    handler = agent(events=EVENTS[:1], close_code=1011, reason="Internal error")
    with websocket_server(handler) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO, expect_events=EVENTS)
    assert (result.outcome.code, result.outcome.category, result.outcome.depth) == (1011, "internal_error", 3)
    assert result.events_seen == ("agent_started",)
    assert result.events_missing == list(EVENTS[1:])


def test_a_dropped_tcp_connection_is_1006_with_no_origin() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(event("agent_started"))
        ws.transport.abort()

    with websocket_server(handler) as port:
        result = probe(port, send=HELLO, expect_events=EVENTS)
    outcome = result.outcome
    assert (outcome.code, outcome.category, outcome.origin) == (1006, "abnormal_closure", None)
    assert "never sent on the wire" in outcome.label


def test_normal_close_before_events_is_closed_early_and_after_some_is_missing_events() -> None:
    with websocket_server(agent(events=(), close_code=1000)) as port:  # type: ignore[arg-type]
        early = probe(port, send=HELLO, expect_events=EVENTS)
    with websocket_server(agent(events=EVENTS[:3], close_code=1000)) as port:  # type: ignore[arg-type]
        partial = probe(port, send=HELLO, expect_events=EVENTS)
    assert early.outcome.category == "closed_early"
    assert (partial.outcome.category, partial.outcome.depth) == ("missing_events", 4)
    assert partial.events_missing == ["tool_completed", "agent_completed"]


def test_silence_after_three_events_is_missing_events_within_the_timeout() -> None:
    with websocket_server(agent(events=EVENTS[:3])) as port:  # type: ignore[arg-type]
        started = time.monotonic()
        result = probe(port, send=HELLO, expect_events=EVENTS, timeout=1.0)
        elapsed = time.monotonic() - started
    assert (result.outcome.category, result.outcome.code) == ("missing_events", None)
    assert "missing tool_completed, agent_completed" in result.outcome.label
    assert elapsed < 4.0  # the probe ends at its timeout, not at the server's leisure


def test_silence_with_no_event_is_no_response() -> None:
    with websocket_server(agent(events=())) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO, expect_events=EVENTS, timeout=0.5)
    assert (result.outcome.category, result.outcome.depth) == ("no_response", 3)


def test_events_out_of_order() -> None:
    with websocket_server(agent(events=(EVENTS[1], EVENTS[0], *EVENTS[2:]))) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO, expect_events=EVENTS)
    assert result.outcome.category == "out_of_order"


def _reject(status: int, body: str, headers: dict[str, str] | None = None) -> object:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        return Response(status, "Rejected", Headers(headers or {}), body.encode())

    return process_request


@pytest.mark.parametrize(
    ("body", "category"), [("", "handshake_rejected"), (GFE_403_BODY, "iam_denied")], ids=["app", "iam"]
)
def test_http_403_at_the_handshake_tells_iam_from_the_app(body: str, category: str) -> None:
    with websocket_server(agent(), process_request=_reject(403, body)) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO, expect_events=EVENTS)
    assert (result.outcome.code, result.outcome.category, result.outcome.depth) == (403, category, 1)
    assert len(result.outcome.reason) <= 200


def test_a_redirect_at_the_upgrade_is_reported_not_followed() -> None:
    process = _reject(302, "", {"Location": "wss://elsewhere.example/ws"})
    with websocket_server(agent(), process_request=process) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO)
    assert (result.outcome.code, result.outcome.category) == (302, "handshake_rejected")
    assert "wss://elsewhere.example/ws" in result.outcome.reason


def test_a_server_that_accepts_tcp_and_never_speaks_times_out_at_the_handshake() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(30)

    with tcp_server(mute) as port:
        started = time.monotonic()
        result = probe(port, timeout=0.5)
        elapsed = time.monotonic() - started
    assert (result.outcome.category, result.outcome.depth) == ("handshake_timeout", 1)
    assert elapsed < 3.0


def test_refused_and_unresolvable_hosts() -> None:
    with tcp_server(scripted([])) as port:
        pass  # the port is closed again: nothing listens there now
    refused = probe(port)
    unresolved = run_check_sync(Check(url="ws://no-such-host.invalid/ws", timeout=5))
    assert (refused.outcome.category, refused.outcome.depth) == ("connection_refused", 0)
    assert (unresolved.outcome.category, unresolved.outcome.depth) == ("dns_error", 0)


def test_binary_and_non_json_frames_are_ignored_and_counted() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(b"\x00\x01binary")
        await ws.send("not json")
        for name in EVENTS:
            await ws.send(event(name))
        await ws.wait_closed()

    with websocket_server(handler) as port:
        result = probe(port, send=HELLO, expect_events=EVENTS)
    assert result.passed and result.frames_ignored == 2


def test_a_ten_megabyte_frame_is_refused_by_the_probe() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send("x" * (10 << 20))
        await ws.wait_closed()

    with websocket_server(handler, max_size=None) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO, expect_events=EVENTS)
    outcome = result.outcome
    assert (outcome.code, outcome.category, outcome.origin) == (1009, "oversized_message", "client")


def test_a_server_that_stops_answering_pings_is_a_client_side_keepalive_timeout() -> None:
    with tcp_server(scripted([])) as port:
        result = probe(port, send=HELLO, expect_events=EVENTS, ping_interval=0.2, timeout=5)
    outcome = result.outcome
    assert (outcome.code, outcome.category, outcome.origin) == (1011, "keepalive_timeout", "client")
    assert outcome.label.startswith("sent 1011")


def test_an_empty_close_frame_is_1005_never_on_the_wire() -> None:
    # The server also never ends TCP: the probe judges the close frame it got, at its timeout.
    with tcp_server(scripted([close_frame(None)])) as port:
        result = probe(port, expect_events=EVENTS, timeout=1)
    assert (result.outcome.code, result.outcome.category) == (1005, "no_status")
    assert "never sent on the wire" in result.outcome.label


def test_a_close_reason_that_is_not_utf8_is_classified_not_raised() -> None:
    with tcp_server(scripted([close_frame(1011, b"\xff\xfe bad")])) as port:
        result = probe(port, expect_events=EVENTS, timeout=1)
    assert (result.outcome.category, result.outcome.origin) == ("invalid_payload", "client")


def test_a_frame_cut_mid_stream_is_abnormal_closure() -> None:
    truncated = frame(0x1, event("agent_started").encode())[:-3]
    with tcp_server(scripted([frame(0x1, event("agent_started").encode()), truncated], then="abort")) as port:
        result = probe(port, expect_events=EVENTS)
    assert result.outcome.category == "abnormal_closure"
    assert result.events_seen == ("agent_started",)


def test_application_close_codes_use_the_configured_names() -> None:
    with websocket_server(agent(events=(), close_code=4001, reason="token expired")) as port:  # type: ignore[arg-type]
        result = probe(port, send=HELLO, expect_events=EVENTS, app_codes={4001: AppCode("token_expired")})
    assert (result.outcome.category, result.outcome.depth) == ("token_expired", 2)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, Path]]:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    yield cert, ca_file


def test_wss_verifies_certificates_and_accepts_a_named_ca_bundle(tls_files: tuple[object, Path]) -> None:
    import ssl

    cert, ca_file = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)  # type: ignore[attr-defined]
    with websocket_server(agent(), ssl_context=context) as port:  # type: ignore[arg-type]
        untrusted = probe(port, scheme="wss", send=HELLO, expect_events=EVENTS)
        trusted = probe(port, scheme="wss", send=HELLO, expect_events=EVENTS, ca_bundle=str(ca_file))
    assert (untrusted.outcome.category, untrusted.outcome.depth) == ("tls_error", 0)
    assert "certificate verify failed" in untrusted.outcome.reason
    assert trusted.passed


def _auth_echo() -> object:
    async def handler(ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        await ws.send(
            json.dumps(
                {
                    "type": "auth",
                    "authorization": request.headers.get("Authorization"),
                    "subprotocol": ws.subprotocol,
                    "path": request.path,
                }
            )
        )
        await ws.wait_closed()

    return handler


def _select_jwt(connection: ServerConnection, offered: list[str]) -> str | None:
    return next((name for name in offered if name.startswith("jwt.")), None)


@pytest.mark.parametrize("mode", ["bearer", "subprotocol", "query"])
def test_each_auth_mode_carries_the_token(mode: str) -> None:
    seen: list[dict[str, object]] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append(
            {"authorization": ws.request.headers.get("Authorization"), "sub": ws.subprotocol, "path": ws.request.path}
        )
        await ws.send(event("agent_started"))
        await ws.wait_closed()

    with websocket_server(handler, select_subprotocol=_select_jwt) as port:
        result = probe(port, token=Secret("tok-123", source="test"), auth=mode, expect_events=("agent_started",))
    assert result.passed
    expected = {
        "bearer": {"authorization": "Bearer tok-123", "sub": None, "path": "/ws"},
        "subprotocol": {"authorization": None, "sub": "jwt.tok-123", "path": "/ws"},
        "query": {"authorization": None, "sub": None, "path": "/ws?token=tok-123"},
    }[mode]
    assert seen == [expected]
    assert "tok-123" not in json.dumps(result.to_dict())


def test_hold_passes_when_the_connection_stays_open_and_fails_when_closed_early() -> None:
    async def stays(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async def leaves(ws: ServerConnection) -> None:
        await ws.close(1000, "done")

    with websocket_server(stays) as port:
        held = probe(port, hold=0.3)
    with websocket_server(leaves) as port:
        left = probe(port, hold=0.3)
    assert held.passed and "stayed open" in held.outcome.reason
    assert (left.outcome.category, left.outcome.code) == ("closed_early", 1000)


def test_a_zero_hold_still_reads_the_close_a_real_server_sends_right_after_the_upgrade() -> None:
    async def refuses(ws: ServerConnection) -> None:
        await ws.close(1008, "Authentication failed")

    async def says_hello(ws: ServerConnection) -> None:
        await ws.send('{"type": "hello"}')
        await ws.wait_closed()

    with websocket_server(refuses) as port:
        refused = probe(port, hold=0)
    with websocket_server(says_hello) as port:
        greeted = probe(port, hold=0)
    assert (refused.outcome.category, refused.outcome.code) == ("policy_violation", 1008), refused.outcome
    assert refused.outcome.reason == "Authentication failed"
    # Its first word heard and not a refusal, a zero hold passes at once instead of waiting out the first-word wait.
    assert greeted.passed and greeted.outcome.reason == "connection stayed open for 0s", greeted.outcome


def test_http_checks_pass_on_2xx_and_fail_on_other_statuses() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    def routes(connection: ServerConnection, request: Request) -> Response | None:
        status = {"/health": 200, "/boom": 500}.get(request.path, 404)
        return connection.respond(status, "body\n")

    with websocket_server(handler, process_request=routes) as port:
        health = run_check_sync(Check(url=f"http://127.0.0.1:{port}/health", timeout=5))
        boom = run_check_sync(Check(url=f"http://127.0.0.1:{port}/boom", timeout=5))
        missing = run_check_sync(Check(url=f"http://127.0.0.1:{port}/nope", timeout=5, expect_status=404))
    assert health.passed and health.outcome.code == 200
    assert (boom.outcome.category, boom.outcome.code) == ("server_error", 500)
    assert missing.passed
