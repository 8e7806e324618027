"""The WebSocket check: connect, send, collect events, and turn however it ends into one outcome."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    WebSocketException,
)
from websockets.frames import Close
from websockets.typing import Subprotocol

from loopctl import __version__
from loopctl.outside_text import EVENT_SAMPLE, NAME_LIMIT, one_line
from loopctl.probe import classify
from loopctl.probe.conversation import CLOSE_POLL_S, Conversation, first_close, next_frame
from loopctl.probe.net import ProbeEnded, default_port, failure_from_exception, open_tcp, tls_context
from loopctl.probe.spec import Check, Latency, ProbeResult, with_query_token
from loopctl.probe.steps import EXPECTING, subset
from loopctl.records.record import OutcomeRecord

_CLOSE_TIMEOUT = 2.0
# With nothing expected, how long a check waits for the server's first word (a frame, a close) before it may
# pass, whatever `hold` says: an auth middleware answers with a close right after the upgrade.
FIRST_WORD_S = 1.0


class _NoRedirects(connect):
    """A redirect at the upgrade is worth reporting, not following."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


_RAW_NAME_LIMIT = 1024
_INSTEAD_KEPT = 5


class _Events:
    """The events a stream carried, in memory that does not grow with it: a count, the first and last names,
    and the few events that moved the verdict (each expected one's first arrival, each step of the in-order match).

    Judging the telling events says what judging the whole stream would (the in-order match is greedy), so a
    check re-judges only when one arrives: the cost of a frame does not grow with the frames before it. For the
    same reason the sample a record keeps holds the telling events in their place: whatever counts expected
    events in order from it counts what the whole stream held.
    """

    def __init__(self, expected: Sequence[str]) -> None:
        self.expected = tuple(expected)
        self.count = 0
        self.telling: list[str] = []
        self._first: list[tuple[int, str]] = []
        self._last: deque[tuple[int, str]] = deque(maxlen=EVENT_SAMPLE)
        self._kept_telling: list[tuple[int, str]] = []
        self._wanted = frozenset(expected)
        self._arrived: set[str] = set()
        self._next = 0  # position in `expected` of the event the in-order match waits for
        self._other: str | None = None  # the latest event, when it is not an expected one
        self._instead: dict[str, None] = {}  # unexpected names since the match last moved, the first few

    def add(self, name: str) -> bool:
        """Count one event; True when it is a telling one. Names are kept raw and cleaned only when shown."""
        self.count += 1
        # A long name is cleaned (and so clipped) now, whole: the sample holds at most 75 names of bounded size.
        seen = (self.count, name if len(name) <= _RAW_NAME_LIMIT else one_line(name, NAME_LIMIT))
        (self._first.append if len(self._first) < EVENT_SAMPLE else self._last.append)(seen)
        self._other = name if name not in self._wanted else None
        if self._other is not None and len(self._instead) < _INSTEAD_KEPT:
            self._instead[seen[1]] = None
        telling = False
        if self._next < len(self.expected) and name == self.expected[self._next]:
            self._next += 1
            self._instead = {}
            telling = True
        if name in self._wanted and name not in self._arrived:
            self._arrived.add(name)
            telling = True
        if telling:
            self.telling.append(name)
            self._kept_telling.append(seen)
        return telling

    @property
    def sample(self) -> tuple[str, ...]:
        """The first and the last names, and every telling one between them, in the order they arrived."""
        kept = dict(sorted([*self._first, *self._kept_telling, *self._last]))
        return tuple(one_line(name, NAME_LIMIT) for name in kept.values())

    @property
    def judged(self) -> list[str]:
        """What the classifier reads as the events seen: the telling ones, then the latest other one (how far)."""
        other = one_line(self._other, NAME_LIMIT) if self._other is not None else None
        # Said as how far the stream got, never counted as an expected event (even when cleaning made it look like one).
        if other is None or other in self._wanted:
            return list(self.telling)
        return [*self.telling, other]

    def missing(self) -> list[str]:
        return [name for name in self.expected if name not in self._arrived]

    @property
    def instead(self) -> list[str]:
        """The unexpected names that came after the last expected one: often the expected ones, renamed."""
        return [one_line(name, NAME_LIMIT) for name in self._instead]


class _Session:
    """What one exchange has seen so far; the stage says which timeout outcome applies."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.stage = "connect"
        self.started = time.monotonic()
        self.deadline = self.started + check.timeout
        self.sent_at: float | None = None
        self.connect_ms: float | None = None
        self.first_event_ms: float | None = None
        self.events = _Events(check.expect_events)
        self.frames_ignored = 0
        self.websocket: ClientConnection | None = None
        self.server: str | None = None  # the `Server:` header: some frameworks explain a code their own way
        self.message: dict[str, Any] | None = None  # the latest frame's JSON object
        self.conversation = Conversation(check, self.read) if check.steps else None

    @property
    def seen(self) -> list[str]:
        return self.events.judged

    def elapsed_ms(self, since: float) -> float:
        return round((time.monotonic() - since) * 1000, 1)

    def read(self, frame: str | bytes) -> dict[str, Any] | None:
        """Count one frame as `take` does; its JSON object, when it is one (a conversation matches it)."""
        self.take(frame)
        return self.message

    def take(self, frame: str | bytes) -> bool:
        """Count one frame; True when it was an event that may settle the check."""
        if self.first_event_ms is None:
            self.first_event_ms = self.elapsed_ms(self.sent_at or self.started)
        if time.monotonic() >= self.deadline:
            raise TimeoutError  # a flood never yields long enough for the timer: the deadline is checked here too
        message = self.message = _json_object(frame)
        name = message.get(self.check.event_field) if message is not None else None
        if message is None or not isinstance(name, str):
            self.frames_ignored += self.conversation is None  # a conversation's steps say which frames they read
            return False
        telling = self.events.add(name)
        if any(subset(pattern, message) for pattern in self.check.error_frames):
            raise ProbeEnded(classify.reported_error(_error_text(message)))
        return telling

    def timeout_outcome(self) -> OutcomeRecord:
        timeout = self.check.timeout
        if self.stage == "connect":
            return classify.connect_failure("connect_timeout", f"no TCP connection within {timeout:g}s")
        if self.stage == "handshake":
            return classify.connect_failure("handshake_timeout", f"no upgrade answer within {timeout:g}s")
        protocol = self.websocket.protocol if self.websocket is not None else None
        if protocol is not None and (protocol.close_rcvd or protocol.close_sent):
            # A close frame arrived but the peer never ended TCP: judge the frame, not the silence.
            return self.closed(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)
        if self.conversation is not None and not self.conversation.finished:
            return self.conversation.timed_out(timeout)
        if not self.check.expect_events:
            return classify.success(f"connection stayed open for {self.check.hold:g}s")
        return classify.silence(timeout, expected=self.check.expect_events, seen=self.seen, instead=self.events.instead)

    def closed(self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None) -> OutcomeRecord:
        """How the close ends the check: who closed first decides the origin (the server's frame, the probe's own, or
        none: dropped); a conversation judges it at its step (an awaited close passes it)."""
        if self.conversation is not None:
            return self.conversation.closed(rcvd, sent, rcvd_then_sent)
        check = self.check
        closing = first_close(rcvd, sent, rcvd_then_sent)
        if closing is None:
            return classify.close(1006, "", origin=None, expected=check.expect_events, seen=self.seen)
        frame, origin = closing
        return classify.close(
            frame.code,
            frame.reason,
            origin=origin,
            expected=check.expect_events,
            seen=self.seen,
            app_codes=check.app_codes,
            instead=self.events.instead,
        )

    def result(self, outcome: OutcomeRecord) -> ProbeResult:
        latency = Latency(self.connect_ms, self.first_event_ms, self.elapsed_ms(self.started))
        return ProbeResult(
            url=self.check.url,
            kind="websocket",
            outcome=classify.with_ignored_frames(classify.with_server(outcome, self.server), self.frames_ignored),
            events_expected=self.check.expect_events,
            events_seen=self.events.sample,
            events_missing=self.events.missing(),
            events_count=self.events.count,
            latency=latency,
            frames_ignored=self.frames_ignored,
            steps=self.conversation.report() if self.conversation is not None else None,
        )


async def run_websocket_check(check: Check) -> ProbeResult:
    """Run one WebSocket check; never raises for anything the server or network does."""
    session = _Session(check)
    try:
        async with asyncio.timeout(check.timeout):
            outcome = await _exchange(session)
    except TimeoutError:
        outcome = session.timeout_outcome()
    except ProbeEnded as ended:
        outcome = ended.outcome
    finally:
        # Outside the check's timer: a server slow to answer the close must not turn a verdict into a timeout.
        if session.websocket is not None:
            await _close_quietly(session.websocket, session.deadline)
    if session.conversation is not None and session.stage == "exchange":
        outcome = session.conversation.judged(outcome)
    return session.result(outcome)


async def _exchange(session: _Session) -> OutcomeRecord:
    check = session.check
    parts = urlsplit(check.url)
    host = parts.hostname or ""
    sock = await open_tcp(host, default_port(parts))
    session.stage = "handshake"
    try:
        websocket = await _handshake(check, sock, host)
    except BaseException:
        sock.close()
        raise
    session.websocket = websocket
    session.server = websocket.response.headers.get("Server") if websocket.response is not None else None
    session.connect_ms = session.elapsed_ms(session.started)
    session.stage = "exchange"
    try:
        return await _converse(session, websocket)
    except ConnectionClosed as closed:
        return session.closed(closed.rcvd, closed.sent, closed.rcvd_then_sent)


async def _handshake(check: Check, sock: Any, host: str) -> ClientConnection:
    headers, subprotocols, url = _auth_parts(check)
    secure = urlsplit(url).scheme == "wss"
    try:
        return await _NoRedirects(
            url,
            sock=sock,
            ssl=tls_context(check.ca_bundle) if secure else None,
            server_hostname=host if secure else None,
            additional_headers=headers,
            subprotocols=subprotocols,
            user_agent_header=f"loopctl/{__version__}",
            max_size=check.max_size,
            ping_interval=check.ping_interval,
            ping_timeout=check.ping_interval,
            open_timeout=None,
            close_timeout=_CLOSE_TIMEOUT,
            compression=None,
        )
    except InvalidStatus as err:
        body = err.response.body.decode("utf-8", "replace") if err.response.body else ""
        location = err.response.headers.get("Location")
        raise ProbeEnded(
            classify.handshake_status(err.response.status_code, f"Location: {location}" if location else body)
        ) from None
    except (InvalidHandshake, WebSocketException, EOFError) as err:
        raise ProbeEnded(classify.connect_failure("invalid_handshake", _describe(err))) from None
    except OSError as err:
        raise ProbeEnded(
            failure_from_exception(err) or classify.connect_failure("connection_reset", str(err))
        ) from None


def _auth_parts(check: Check) -> tuple[list[tuple[str, str]], list[Subprotocol] | None, str]:
    headers = list(check.headers)
    url = check.url
    if check.token is None:
        return headers, None, url
    token = check.token.reveal()
    if check.auth == "subprotocol":
        return headers, [Subprotocol(f"jwt.{token}")], url
    if check.auth == "query":
        return headers, None, with_query_token(url, token)
    if check.auth == "message":  # the token travels in a step's `send` only
        return headers, None, url
    return [*headers, ("Authorization", f"Bearer {token}")], None, url


async def _converse(session: _Session, websocket: ClientConnection) -> OutcomeRecord:
    check = session.check
    if session.conversation is not None:
        session.sent_at = time.monotonic()
        outcome = await session.conversation.run(websocket)
        if outcome.passed and check.steps[-1].kind not in EXPECTING:
            return await _hold(session, websocket)  # nothing awaited after the last send: its answer may be a close
        return outcome
    if check.send is not None:
        await websocket.send(json.dumps(check.send))
    session.sent_at = time.monotonic()
    if not check.expect_events:
        return await _hold(session, websocket)
    while True:
        if session.take(await websocket.recv()):
            settled = classify.events(check.expect_events, session.events.telling)
            if settled is not None:
                return settled


async def _hold(session: _Session, websocket: ClientConnection) -> OutcomeRecord:
    """With no events to expect, the check passes when the connection stays open for `hold` seconds, and not
    before the server said its first word or FIRST_WORD_S passed: a close sent as its answer is never missed."""
    check = session.check
    began = time.monotonic()
    hold_end = began + min(check.hold, check.timeout)
    first_word_end = began + min(FIRST_WORD_S, check.timeout)
    heard = False
    while websocket.protocol.close_rcvd is None:
        end = hold_end if heard else max(hold_end, first_word_end)
        left = end - time.monotonic()
        if left <= 0:
            said = "" if heard else " and the server said nothing"
            return classify.success(f"connection stayed open for {end - began:g}s{said}")
        frame = await next_frame(websocket, within=min(left, CLOSE_POLL_S))
        if frame is not None:
            session.take(frame)
            heard = True
    protocol = websocket.protocol
    return session.closed(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)


async def _close_quietly(websocket: ClientConnection, deadline: float) -> None:
    """Close politely while the probe's time lasts; past its deadline, drop the connection."""
    budget = min(_CLOSE_TIMEOUT, deadline - time.monotonic())
    try:
        if budget <= 0:
            raise TimeoutError
        async with asyncio.timeout(budget):
            await websocket.close()
    except (TimeoutError, OSError, WebSocketException):
        websocket.transport.abort()


def _json_object(frame: str | bytes) -> dict[str, Any] | None:
    if isinstance(frame, bytes):
        return None
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than any event is
        return None
    return message if isinstance(message, dict) else None


def _error_text(message: dict[str, Any]) -> str:
    """What an error frame says: its `message` or `detail` (also under `error`), else the frame itself."""
    for holder in (message, message.get("error")):
        texts = [holder.get(key) for key in ("message", "detail")] if isinstance(holder, dict) else []
        said = next((text for text in texts if isinstance(text, str) and text.strip()), None)
        if said is not None:
            return said
    error = message.get("error")
    if isinstance(error, str) and error.strip():
        return error
    try:
        return json.dumps(message, ensure_ascii=False)
    except (ValueError, RecursionError):
        return ""


def _describe(err: BaseException) -> str:
    cause = err.__cause__
    text = str(err)
    return f"{text}: {cause}" if cause is not None and str(cause) else text
