"""The probe against real Starlette/FastAPI on uvicorn (every WebSocket backend) and aiohttp, scenario by scenario.

Each server runs in its own process on 127.0.0.1, started by the test, so a SIGTERM mid-session is the real
shutdown path. Every scenario asserts the category, the depth and the hint a user would read.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from loopctl.probe.options import run_check_sync
from loopctl.probe.spec import Check, ProbeResult
from loopctl.records.compare import events_in_order, reach
from tests.conformance.apps import APP_ERROR, EVENTS, MAX_MESSAGE
from tests.conformance.serving import started


def _uvicorn_backends() -> list[str]:
    from uvicorn.config import WS_PROTOCOLS

    return [name for name in ("websockets", "websockets-sansio", "wsproto") if name in WS_PROTOCOLS]


STACKS = [
    *(("starlette", backend) for backend in _uvicorn_backends()),
    ("fastapi", "websockets"),
    ("aiohttp", "aiohttp"),
]


@dataclass(frozen=True)
class Server:
    framework: str
    backend: str
    port: int
    process: subprocess.Popen[str]

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def starlette(self) -> bool:
        return self.framework in ("starlette", "fastapi")


@contextmanager
def serving(framework: str, backend: str) -> Iterator[Server]:
    with started([sys.executable, "-m", "tests.conformance.apps", framework, backend]) as (port, process):
        yield Server(framework, backend, port, process)


@pytest.fixture(scope="module", params=STACKS, ids=lambda stack: "-".join(dict.fromkeys(stack)))
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with serving(*request.param) as running:
        yield running


def probe(url: str, *, send: object = None, timeout: float = 3.0) -> ProbeResult:
    message = {"type": "user_message", "payload": {"content": "hello"}} if send is None else send
    return run_check_sync(Check(url=url, send=message, expect_events=tuple(EVENTS), timeout=timeout))


def test_happy_path(server: Server) -> None:
    result = probe(server.url("/ws"))
    assert (result.outcome.category, result.outcome.depth) == ("success", 5)
    assert list(result.events_seen) == EVENTS


def test_auth_rejected_before_accept(server: Server) -> None:
    outcome = probe(server.url("/auth-before")).outcome
    assert (outcome.code, outcome.category, outcome.depth) == (403, "handshake_rejected", 1)
    if server.starlette:
        # The empty 403 Starlette also sends for an unknown path: the hint names the route first, then auth.
        assert outcome.reason == ""
        assert outcome.hint.index("WebSocket routes") < outcome.hint.index("token")
    else:
        assert outcome.reason == "403: Forbidden"
        assert "auth rules" in outcome.hint


def test_auth_rejected_after_accept(server: Server) -> None:
    outcome = probe(server.url("/auth-after")).outcome
    assert (outcome.code, outcome.category, outcome.depth, outcome.origin) == (1008, "policy_violation", 2, "server")
    assert outcome.reason == "Authentication failed"
    assert "auth middleware" in outcome.hint


def test_handler_exception_after_the_first_event_drops_tcp(server: Server) -> None:
    result = probe(server.url("/crash"))
    outcome = result.outcome
    assert (outcome.code, outcome.category, outcome.depth, outcome.origin) == (1006, "abnormal_closure", 3, None)
    assert list(result.events_seen) == EVENTS[:1]
    assert "uvicorn, aiohttp and Node do this when the handler raises" in outcome.hint


def test_a_crash_and_a_silence_after_the_same_event_rank_the_same(server: Server) -> None:
    crashed, silent = probe(server.url("/crash")), probe(server.url("/linger"), timeout=1.5)
    assert (crashed.outcome.category, silent.outcome.category) == ("abnormal_closure", "missing_events")
    ranks = [reach(result.outcome, events_in_order(EVENTS, result.events_seen)) for result in (crashed, silent)]
    assert ranks[0] == ranks[1] == (3, 1)


def test_oversized_message_is_the_servers_1009(server: Server) -> None:
    outcome = probe(server.url("/oversized"), send={"type": "user_message", "pad": "x" * (MAX_MESSAGE * 2)}).outcome
    assert (outcome.code, outcome.category, outcome.depth, outcome.origin) == (1009, "message_too_big", 3, "server")
    assert "uvicorn --ws-max-size" in outcome.hint and "aiohttp max_msg_size" in outcome.hint


def test_silent_server(server: Server) -> None:
    outcome = probe(server.url("/silent"), timeout=1.5).outcome
    assert (outcome.code, outcome.category, outcome.depth) == (None, "no_response", 3)
    assert "--send" in outcome.hint


def test_the_apps_own_error_event_ends_the_wait_quoted_with_its_message(server: Server) -> None:
    """The session stays open after the error: waiting it out would end in missing_events, not this."""
    result = probe(server.url("/app-error"), timeout=20)
    outcome = result.outcome
    assert (outcome.code, outcome.category, outcome.depth) == (None, "server_reported_error", 3), outcome
    assert outcome.reason == APP_ERROR["message"]
    assert outcome.label == f"the server reported an error: {APP_ERROR['message']}"
    assert list(result.events_seen) == [EVENTS[0], "error"]


def test_renamed_events_are_named_as_what_came_instead(server: Server) -> None:
    outcome = probe(server.url("/renamed")).outcome
    assert (outcome.code, outcome.category, outcome.depth) == (1000, "missing_events", 4), outcome
    assert (
        outcome.label == "1/3 expected events; missing agent_thinking, agent_completed; tool_output, done came instead"
    )
    assert "never sent agent_thinking: tool_output and done arrived in place of the expected names" in outcome.hint


def test_a_zero_hold_reads_the_1008_sent_right_after_accept(server: Server) -> None:
    outcome = run_check_sync(Check(url=server.url("/auth-after"), hold=0, timeout=5)).outcome
    assert (outcome.code, outcome.category, outcome.origin) == (1008, "policy_violation", "server"), outcome


def test_wrong_path(server: Server) -> None:
    outcome = probe(server.url("/no-such-route")).outcome
    if server.starlette:
        assert (outcome.code, outcome.category, outcome.depth, outcome.reason) == (403, "handshake_rejected", 1, "")
        assert outcome.hint.index("WebSocket routes") < outcome.hint.index("token")
    else:
        assert (outcome.code, outcome.category, outcome.depth) == (404, "handshake_rejected", 1)
        assert "No route at this path" in outcome.hint


@pytest.mark.parametrize("stack", STACKS, ids=lambda stack: "-".join(dict.fromkeys(stack)))
def test_sigterm_mid_session(stack: tuple[str, str]) -> None:
    with serving(*stack) as running:
        results: list[ProbeResult] = []
        probing = threading.Thread(target=lambda: results.append(probe(running.url("/linger"), timeout=20)))
        probing.start()
        _wait_for_session(running)
        running.process.send_signal(signal.SIGTERM)
        probing.join(timeout=30)
    outcome = results[0].outcome
    assert list(results[0].events_seen) == EVENTS[:1]
    if running.starlette:
        # uvicorn closes open WebSockets with 1012 (service restart) when it shuts down.
        assert (outcome.code, outcome.category, outcome.depth, outcome.origin) == (1012, "service_restart", 3, "server")
        assert "uvicorn closes open WebSockets with 1012 on SIGTERM" in outcome.hint
    else:
        # aiohttp's documented shutdown: the app's on_shutdown closes its sessions with 1001.
        assert (outcome.code, outcome.category, outcome.depth, outcome.origin) == (1001, "going_away", 3, "server")
        assert "aiohttp apps close with 1001 on shutdown" in outcome.hint


def _wait_for_session(server: Server) -> None:
    """Block until the server says a lingering session got its first event."""
    assert server.process.stdout is not None
    while (line := server.process.stdout.readline()) and line.strip() != "session":
        pass
    assert line.strip() == "session"
