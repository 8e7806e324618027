"""Correlation: every check session sends a fresh trace id (W3C and Cloud Run headers) and keeps it with its times."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from loopctl.probe.load import Load, run_load
from loopctl.probe.options import run_check_sync
from loopctl.probe.spec import Check
from tests.support.wsservers import event, websocket_server

TRACEPARENT = re.compile(r"00-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-01")
CLOUD_TRACE = re.compile(r"(?P<trace>[0-9a-f]{32})/(?P<span>\d+);o=1")


def assert_traced(headers: Any, trace_id: str | None) -> None:
    parent = TRACEPARENT.fullmatch(headers["traceparent"])
    cloud = CLOUD_TRACE.fullmatch(headers["X-Cloud-Trace-Context"])
    assert parent is not None and cloud is not None, dict(headers)
    assert parent["trace"] == cloud["trace"] == trace_id
    assert int(parent["span"], 16) == int(cloud["span"])  # one span, hex for W3C and decimal for Cloud Run


def test_a_websocket_check_sends_its_trace_and_records_it_with_its_window() -> None:
    seen: list[Any] = []

    def remember(connection: ServerConnection, request: Request) -> None:
        seen.append(request.headers)

    async def answer(websocket: ServerConnection) -> None:
        await websocket.recv()
        await websocket.send(event("done"))

    with websocket_server(answer, process_request=remember) as port:
        check = Check(url=f"ws://127.0.0.1:{port}/ws", send={"type": "hi"}, expect_events=("done",), timeout=5)
        first, second = run_check_sync(check), run_check_sync(check)

    assert first.passed and len(seen) == 2
    assert_traced(seen[0], first.trace_id)
    assert_traced(seen[1], second.trace_id)
    assert first.trace_id != second.trace_id  # fresh per session
    assert first.started_at is not None and first.finished_at is not None
    assert datetime.fromisoformat(first.started_at) <= datetime.fromisoformat(first.finished_at)
    assert first.to_dict()["trace_id"] == first.trace_id


@contextmanager
def http_server(seen: list[Any]) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_check_sends_its_trace_and_a_configured_one_is_left_alone() -> None:
    seen: list[Any] = []
    with http_server(seen) as port:
        result = run_check_sync(Check(url=f"http://127.0.0.1:{port}/health", timeout=5))
        own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        kept = run_check_sync(Check(url=f"http://127.0.0.1:{port}/health", timeout=5, headers=(("traceparent", own),)))
    assert result.passed
    assert_traced(seen[0], result.trace_id)
    assert seen[1]["traceparent"] == own and seen[1]["X-Cloud-Trace-Context"] is None
    assert kept.trace_id == "0af7651916cd43dd8448eb211c80319c"  # the record names the trace the server saw


def test_every_load_session_has_its_own_trace_and_the_run_spans_them_all() -> None:
    seen: list[Any] = []
    with http_server(seen) as port:
        measured = asyncio.run(run_load(Check(url=f"http://127.0.0.1:{port}/", timeout=5), Load(concurrency=3)))
    # The run keeps counts, not every session: the server's side shows one trace per session.
    ids = {headers["traceparent"] for headers in seen}
    assert len(ids) == measured.tally.sessions == len(seen) == 3
    result, first = measured.result(), measured.tally.first
    assert first is not None and first.started_at and first.finished_at
    assert result.started_at is not None and result.finished_at is not None
    assert result.started_at <= first.started_at <= first.finished_at <= result.finished_at
    assert (result.started_at, result.finished_at) == (measured.tally.started_at, measured.tally.finished_at)
