"""examples/agent-service as a real subprocess, driven by a real websockets client on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.typing import Subprotocol

from loopctl.evidence.extract import LogLine, extract
from loopctl.secrets.jwt import mint_jwt
from tests.integration.agent_service import (
    DEFAULT_SECRET,
    EVENTS,
    ServiceHandle,
    ServiceStartError,
    running_service,
    service_command,
    service_env,
)

USER_MESSAGE = json.dumps({"type": "user_message", "payload": {"content": "hello"}})
RECV_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceHandle]:
    with running_service() as handle:
        yield handle


def valid_token(secret: str = DEFAULT_SECRET) -> str:
    return mint_jwt(secret, {"sub": "test"})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def receive(ws: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
    return event


async def chat(url: str, **connect_options: Any) -> list[dict[str, Any]]:
    """Send one user_message and collect the five events that should answer it."""
    async with connect(url, open_timeout=RECV_TIMEOUT, **connect_options) as ws:
        await ws.send(USER_MESSAGE)
        return [await receive(ws) for _ in EVENTS]


async def closed_by_server(url: str, **connect_options: Any) -> ConnectionClosed:
    """Connect, send a user_message, read until the server ends the connection, and return how."""
    async with connect(url, open_timeout=RECV_TIMEOUT, **connect_options) as ws:
        with pytest.raises(ConnectionClosed) as caught:
            await ws.send(USER_MESSAGE)  # may already fail: the server closes as soon as it has checked the token
            while True:
                await receive(ws)
    return caught.value


def event_names(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def test_health_answers_200_ok_over_plain_http(service: ServiceHandle) -> None:
    with urllib.request.urlopen(f"{service.http_url}/health", timeout=5) as response:
        assert (response.status, response.read()) == (200, b"ok")


def test_unknown_path_answers_404(service: ServiceHandle) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{service.http_url}/nope", timeout=5)
    with caught.value as not_found:  # an HTTPError holds the response open
        assert not_found.code == 404


def test_bearer_token_gets_the_five_events_in_order(service: ServiceHandle) -> None:
    events = asyncio.run(chat(service.ws_url, additional_headers=bearer(valid_token())))
    assert event_names(events) == list(EVENTS)
    assert len({event["data"]["run_id"] for event in events}) == 1


def test_subprotocol_token_is_accepted_and_selected(service: ServiceHandle) -> None:
    subprotocol = Subprotocol(f"jwt.{valid_token()}")

    async def scenario() -> tuple[str | None, list[dict[str, Any]]]:
        async with connect(service.ws_url, subprotocols=[subprotocol], open_timeout=RECV_TIMEOUT) as ws:
            await ws.send(USER_MESSAGE)
            return ws.subprotocol, [await receive(ws) for _ in EVENTS]

    selected, events = asyncio.run(scenario())
    assert selected == subprotocol
    assert event_names(events) == list(EVENTS)


def test_query_token_is_accepted(service: ServiceHandle) -> None:
    events = asyncio.run(chat(f"{service.ws_url}?token={valid_token()}"))
    assert event_names(events) == list(EVENTS)


def _unsigned_alg_none_token() -> str:
    def segment(part: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    signing_input = f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment({'sub': 'test'})}"
    # Signed with the right secret all the same: only the alg header makes it invalid.
    signature = hmac.new(DEFAULT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(bearer(mint_jwt("another-secret", {"sub": "test"})), id="bad-signature"),
        pytest.param(bearer(mint_jwt(DEFAULT_SECRET, {"sub": "test"}, ttl=-10)), id="expired"),
        pytest.param(bearer(_unsigned_alg_none_token()), id="alg-none"),
        pytest.param(bearer("not-a-jwt"), id="malformed"),
        pytest.param({}, id="no-token"),
    ],
)
def test_rejected_token_closes_1008_after_the_upgrade(service: ServiceHandle, headers: dict[str, str]) -> None:
    closed = asyncio.run(closed_by_server(service.ws_url, additional_headers=headers))
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1008, "Authentication failed")


def test_without_jwt_secret_every_token_is_rejected_and_a_warning_logged() -> None:
    with running_service(secret=None) as handle:
        closed = asyncio.run(closed_by_server(handle.ws_url, additional_headers=bearer(valid_token())))
        assert closed.rcvd is not None and closed.rcvd.code == 1008
        assert "JWT_SECRET is not set" in handle.stderr_text()


def test_bad_message_gets_an_error_event_and_the_connection_goes_on(service: ServiceHandle) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with connect(service.ws_url, additional_headers=bearer(valid_token())) as ws:
            await ws.send("not json")
            await ws.send(json.dumps({"type": "ping"}))
            errors = [await receive(ws), await receive(ws)]
            await ws.send(USER_MESSAGE)
            return errors, [await receive(ws) for _ in EVENTS]

    errors, events = asyncio.run(scenario())
    assert [error["type"] for error in errors] == ["error", "error"]
    assert all(error["data"]["message"] for error in errors)
    assert event_names(events) == list(EVENTS)


def test_fault_auth_rejects_even_a_valid_token() -> None:
    with running_service(fault="auth") as handle:
        closed = asyncio.run(closed_by_server(handle.ws_url, additional_headers=bearer(valid_token())))
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1008, "Authentication failed")


def test_fault_internal_sends_agent_started_then_closes_1011() -> None:
    async def scenario(url: str) -> tuple[dict[str, Any], ConnectionClosed]:
        async with connect(url, additional_headers=bearer(valid_token())) as ws:
            await ws.send(USER_MESSAGE)
            first = await receive(ws)
            with pytest.raises(ConnectionClosed) as caught:
                await receive(ws)
            return first, caught.value

    with running_service(fault="internal") as handle:
        first, closed = asyncio.run(scenario(handle.ws_url))
        logged = handle.stderr_text()
    assert first["type"] == "agent_started"
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1011, "Internal error")
    # A real exception, logged with its traceback: what loopctl's report quotes for this 1011.
    error = extract([LogLine(line) for line in logged.splitlines()])
    assert error is not None, logged
    assert (error.type, error.message) == ("TypeError", "user_context must be a UserExecutionContext instance")
    assert error.location is not None and re.fullmatch(
        r"agent-service/agent_service/conversation\.py:\d+", error.location
    )
    assert error.lines[0].startswith("ERROR agent_service: agent run ") and error.lines[-1].startswith("TypeError")


def test_fault_drop_aborts_tcp_without_a_close_frame() -> None:
    async def scenario(url: str) -> tuple[dict[str, Any], ConnectionClosed]:
        async with connect(url, additional_headers=bearer(valid_token())) as ws:
            await ws.send(USER_MESSAGE)
            first = await receive(ws)
            with pytest.raises(ConnectionClosedError) as caught:
                await receive(ws)
            return first, caught.value

    with running_service(fault="drop") as handle:
        first, closed = asyncio.run(scenario(handle.ws_url))
    assert first["type"] == "agent_started"
    assert closed.rcvd is None and closed.sent is None  # what a client reports as 1006


def test_fault_partial_sends_three_events_then_stays_silent_and_open() -> None:
    async def scenario(url: str) -> tuple[list[dict[str, Any]], bool]:
        async with connect(url, additional_headers=bearer(valid_token())) as ws:
            await ws.send(USER_MESSAGE)
            events = [await receive(ws) for _ in range(3)]
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)
            return events, ws.close_code is None

    with running_service(fault="partial") as handle:
        events, still_open = asyncio.run(scenario(handle.ws_url))
    assert event_names(events) == list(EVENTS[:3])
    assert still_open


def test_fault_handshake403_rejects_the_upgrade_with_an_empty_403() -> None:
    async def scenario(url: str) -> None:
        async with connect(url, additional_headers=bearer(valid_token()), open_timeout=RECV_TIMEOUT):
            pass

    with running_service(fault="handshake403") as handle, pytest.raises(InvalidStatus) as caught:
        asyncio.run(scenario(handle.ws_url))
    assert caught.value.response.status_code == 403
    assert caught.value.response.body == b""


def test_fault_slow_spaces_events_by_slow_delay() -> None:
    async def scenario(url: str) -> float:
        async with connect(url, additional_headers=bearer(valid_token())) as ws:
            sent = time.monotonic()
            await ws.send(USER_MESSAGE)
            for _ in EVENTS:
                await receive(ws)
            return time.monotonic() - sent

    with running_service(fault="slow", extra_env={"SLOW_DELAY": "0.3"}) as handle:
        elapsed = asyncio.run(scenario(handle.ws_url))
    # A lower bound no scheduling delay on either side can break: the server reads the message after it was sent and
    # sleeps SLOW_DELAY before each of the last four events (the normal gap, 0.02 s, would make it about 0.1 s).
    assert elapsed >= 4 * 0.3


def test_unknown_fault_exits_2_naming_the_valid_values() -> None:
    finished = subprocess.run(
        service_command(), env=service_env(fault="bogus"), capture_output=True, text=True, timeout=10, check=False
    )
    assert finished.returncode == 2
    assert finished.stdout == ""
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1
    assert all(name in lines[0] for name in ("bogus", "auth", "internal", "drop", "partial", "slow", "handshake403"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_open_connections_1001_and_exits_0(signum: signal.Signals) -> None:
    async def scenario(handle: ServiceHandle) -> int | None:
        async with connect(handle.ws_url, additional_headers=bearer(valid_token())) as ws:
            await ws.send(USER_MESSAGE)
            [await receive(ws) for _ in EVENTS]
            handle.process.send_signal(signum)
            await asyncio.wait_for(ws.wait_closed(), RECV_TIMEOUT)
            return ws.close_code

    with running_service() as handle:
        close_code = asyncio.run(scenario(handle))
        returncode = handle.process.wait(timeout=5)
        stderr = handle.stderr_text()
    assert close_code == 1001
    assert returncode == 0
    assert "Traceback" not in stderr


def test_helper_reports_the_service_stderr_when_it_does_not_start() -> None:
    with pytest.raises(ServiceStartError, match=r"(?s)listening on.*FAULT must be one of"), running_service(fault="x"):
        pass
