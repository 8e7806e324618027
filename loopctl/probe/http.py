"""The HTTP check: one GET, its status compared with what the check expects."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import ssl
import time
from urllib.parse import urlsplit

from loopctl import __version__
from loopctl.probe import classify
from loopctl.probe.net import ProbeEnded, default_port, failure_from_exception, open_tcp, tls_context
from loopctl.probe.spec import Check, Latency, ProbeResult, with_query_token
from loopctl.records.record import OutcomeRecord

_BODY_LIMIT = 64 * 1024


class _Wire:
    """The socket the request thread reads from, so the event loop can cut it when the check's time is up.

    A per-read timeout does not bound a server that sends one byte a second; shutting the socket down does.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.was_cut = False

    def cut(self) -> None:
        self.was_cut = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


async def run_http_check(check: Check) -> ProbeResult:
    """Run one HTTP check; never raises for anything the server or network does, never outlasts `check.timeout`."""
    started = time.monotonic()
    stage = ["connect"]
    try:
        async with asyncio.timeout(check.timeout):
            parts = urlsplit(check.url)
            sock = await open_tcp(parts.hostname or "", default_port(parts))
            stage[0] = "request"
            wire = _Wire(sock)
            try:
                outcome = await asyncio.to_thread(_request, check, wire, started + check.timeout)
            except asyncio.CancelledError:
                wire.cut()  # the thread's blocked read returns at once, so nothing waits for it afterwards
                raise
    except TimeoutError:
        category = "connect_timeout" if stage[0] == "connect" else "no_response"
        outcome = classify.connect_failure(category, f"no answer within {check.timeout:g}s")
    except ProbeEnded as ended:
        outcome = ended.outcome
    total = round((time.monotonic() - started) * 1000, 1)
    return ProbeResult(url=check.url, kind="http", outcome=outcome, latency=Latency(total=total))


def _request(check: Check, wire: _Wire, deadline: float) -> OutcomeRecord:
    parts = urlsplit(_request_url(check))
    host = parts.hostname or ""
    sock = wire.sock
    sock.setblocking(True)
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        if parts.scheme == "https":
            sock = wire.sock = tls_context(check.ca_bundle).wrap_socket(sock, server_hostname=host)
            if wire.was_cut:  # cut while the handshake ran, on the socket TLS has since taken over
                wire.cut()
        connection = http.client.HTTPConnection(host, default_port(parts), timeout=sock.gettimeout())
        connection.sock = sock
        path = parts.path or "/"
        connection.request("GET", f"{path}?{parts.query}" if parts.query else path, headers=_headers(check))
        response = connection.getresponse()
        body = response.read(_BODY_LIMIT).decode("utf-8", "replace")
    except TimeoutError:
        return classify.connect_failure("no_response", f"no answer within {check.timeout:g}s")
    except (OSError, http.client.HTTPException) as err:
        known = failure_from_exception(err) if isinstance(err, OSError | ssl.SSLError) else None
        return known or classify.connect_failure("invalid_response", f"{type(err).__name__}: {err}")
    finally:
        sock.close()
    return classify.http_response(response.status, body, expect_status=check.expect_status)


def _request_url(check: Check) -> str:
    """The URL the GET goes to: with `?token=` for query auth (the check's own `url` never holds the token)."""
    if check.token is not None and check.auth == "query":
        return with_query_token(check.url, check.token.reveal())
    return check.url


def _headers(check: Check) -> dict[str, str]:
    headers = {"User-Agent": f"loopctl/{__version__}", **dict(check.headers)}
    if check.token is not None and check.auth != "query":
        headers["Authorization"] = f"Bearer {check.token.reveal()}"
    return headers
