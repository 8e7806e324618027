"""A conversation on one WebSocket connection: each step sent or waited for in order, and how far it got."""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from loopctl import secrets
from loopctl.outside_text import NAME_LIMIT, one_line
from loopctl.probe import classify
from loopctl.probe.classify import DEPTH_PROCESSING, Origin
from loopctl.probe.codes import CONNECT_FAILURES
from loopctl.probe.spec import Check
from loopctl.probe.steps import Step, as_text, captured, fill, mismatch, subset
from loopctl.records.record import OutcomeRecord

FRAMES_KEPT = 5  # the last frames that arrived instead of the one a step waited for
FRAME_LIMIT = 160  # characters kept of each of them
_RAW_KEPT = 64 * 1024  # a skipped frame up to this size is kept raw until shown
CLOSE_POLL_S = 0.05  # how often a wait for a close looks at the protocol for the close frame


async def next_frame(websocket: ClientConnection, *, within: float) -> str | bytes | None:
    """The next frame, or None when none came `within` seconds; ConnectionClosed as soon as a close frame is in.

    A close frame is looked for on the protocol, not waited for through `recv()`: that returns only once TCP has
    ended too, which a server may take its time over (or never do). `recv()` is safe to cancel: no frame is lost.
    """
    if websocket.protocol.close_rcvd is not None:
        raise _closed(websocket)
    try:
        async with asyncio.timeout(within):
            return await websocket.recv()
    except TimeoutError:
        return None


def first_close(rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None) -> tuple[Close, Origin] | None:
    """The close frame that ended the connection and who sent it: the server's when it came first, else the probe's;
    None when neither was sent (the connection dropped)."""
    if rcvd is not None and (sent is None or rcvd_then_sent):
        return rcvd, "server"
    return (sent, "client") if sent is not None else None


def _closed(websocket: ClientConnection) -> ConnectionClosed:
    protocol = websocket.protocol
    return ConnectionClosed(protocol.close_rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)


class StepFailed(Exception):
    """A step ended the conversation: the outcome says how."""

    def __init__(self, outcome: OutcomeRecord) -> None:
        super().__init__(outcome.label)
        self.outcome = outcome


class Conversation:
    """Runs a check's steps; remembers the step it is at, what came instead, the nearest miss and captured values."""

    def __init__(self, check: Check, read: Callable[[str | bytes], dict[str, Any] | None]) -> None:
        self.check = check
        self.read = read  # the session's bookkeeping (timings, event names, `fail_on`); the frame's JSON object
        self.values: dict[str, Any] = {"token": check.token.reveal()} if check.token is not None else {}
        self.captured: dict[str, str] = {}
        self.at = 0  # index of the step under way; len(steps) once every step is done
        self.instead: deque[str] = deque(maxlen=FRAMES_KEPT)
        self.near: str | None = None  # the payload mismatch of the latest frame that nearly matched

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.check.steps

    async def run(self, websocket: ClientConnection) -> OutcomeRecord:
        try:
            for index, step in enumerate(self.steps):
                self.at, self.near = index, None
                self.instead.clear()
                await self._one(websocket, step)
        except ConnectionClosed as closed:
            return self.closed(closed.rcvd, closed.sent, closed.rcvd_then_sent)
        except StepFailed as failed:
            return failed.outcome
        self.at, self.near = len(self.steps), None  # a near miss before the last step fitted is no longer news
        return classify.success(f"all {len(self.steps)} steps done")

    async def _one(self, websocket: ClientConnection, step: Step) -> None:
        if step.kind == "send":
            await websocket.send(json.dumps(fill(step.body, self.values)))
        elif step.kind == "text":
            await websocket.send(str(fill(step.body, self.values)))
        elif step.kind == "binary":
            await websocket.send(step.body)
        else:
            await self._wait(websocket, step)

    async def _wait(self, websocket: ClientConnection, step: Step) -> None:
        """One timer for the whole step, not one per frame: a stream of skipped frames costs only their reading.
        A close is awaited on the protocol (`next_frame`): a server that sends it may never end TCP."""
        timeout = step.timeout or self.check.timeout
        try:
            async with asyncio.timeout(timeout):
                while step.kind == "expect_close":  # ended only by the close (ConnectionClosed) or the timer
                    frame = await next_frame(websocket, within=CLOSE_POLL_S)
                    if frame is not None:
                        self._fits(step, frame)
                while not self._fits(step, await websocket.recv()):
                    pass
        except TimeoutError:
            if websocket.protocol.close_rcvd is not None:  # it closed while the step waited: the close is the verdict
                raise _closed(websocket) from None
            raise StepFailed(self.timed_out(timeout)) from None

    def _fits(self, step: Step, frame: str | bytes) -> bool:
        """Whether `frame` is the one the step waits for (capturing from it); a frame that is not is kept as
        what came instead, and one with the awaited event but other values as the nearest miss."""
        message = self.read(frame)
        if step.kind == "expect_text":
            fits = isinstance(frame, str) and message is None and re.search(step.body, frame) is not None
        elif step.kind == "expect" and message is not None and subset(step.body, message):
            wrong = mismatch(step, message) if step.match else None
            fits, self.near = wrong is None, wrong or self.near
        else:
            fits = False
            if message is not None and step.kind == "expect" and self._same_event(step, message):
                self.near = mismatch(step, message)
        if fits and message is not None:
            self._capture(step, message)
        elif not fits:
            self._skipped(frame)
        return fits

    def _same_event(self, step: Step, message: dict[str, Any]) -> bool:
        """Whether `message` is the event the step names: only then is it a near miss (a step naming no event has
        none, or every frame would be one)."""
        name = step.event_name(self.check.event_field)
        return name is not None and message.get(self.check.event_field) == name

    def _skipped(self, frame: str | bytes) -> None:
        # Kept raw and cleaned only when shown, so a stream of skipped frames costs no redaction each; a long one is
        # cleaned now, whole (cutting it first could leave half a secret that redaction no longer recognises).
        if isinstance(frame, bytes):
            self.instead.append(f"binary frame ({len(frame)} bytes)")
        else:
            self.instead.append(frame if len(frame) <= _RAW_KEPT else one_line(frame, FRAME_LIMIT))

    @property
    def came_instead(self) -> list[str]:
        return [one_line(frame, FRAME_LIMIT) for frame in self.instead]

    def _capture(self, step: Step, message: dict[str, Any]) -> None:
        for name, value in captured(step, message).items():
            self.values[name] = value
            text = as_text(value)  # the form `fill` puts into text, so redaction knows the one that travels
            if self.check.token is not None:  # a value handed out after authenticating may be a credential too
                secrets.remember(text)
            self.captured[name] = one_line(text, NAME_LIMIT)

    # ------------------------------------------------------------------ verdicts

    def closed(self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None) -> OutcomeRecord:
        """The connection closed at the current step: the code the step wanted passes it, any other is the verdict."""
        closing = first_close(rcvd, sent, rcvd_then_sent)
        if closing is None:
            return classify.close(1006, "", origin=None)
        frame, origin = closing
        step = None if self.finished else self.steps[self.at]
        if step is not None and step.kind == "expect_close" and origin == "server" and frame.code in step.close_codes:
            self.at += 1
            if self.at == len(self.steps):
                return classify.success(f"all {len(self.steps)} steps done; closed with {frame.code}")
            return self._failed_after_close(frame)
        if self.near is not None and frame.code == 1000 and origin == "server":
            return self.timed_out(0).model_copy(
                update={"code": 1000, "origin": "server"}
            )  # it answered, wrongly, and said goodbye
        return classify.close(frame.code, frame.reason, origin=origin, app_codes=self.check.app_codes)

    def _failed_after_close(self, frame: Close) -> OutcomeRecord:
        info = CONNECT_FAILURES["no_response"]
        label = f"closed with {frame.code} as expected, but steps remained"
        return OutcomeRecord(
            code=frame.code,
            category="closed_early",
            depth=DEPTH_PROCESSING,
            label=label,
            reason=one_line(frame.reason),
            hint=info.hint,
            origin="server",
        )

    def timed_out(self, timeout: float) -> OutcomeRecord:
        """Nothing fitting arrived in time: a payload that nearly fitted, a step after others, or silence."""
        if self.near is not None:
            info = CONNECT_FAILURES["payload_mismatch"]
            label = one_line(f"{info.label}: {self.near}")
            return OutcomeRecord(
                code=None,
                category=info.category,
                depth=info.depth,
                label=label,
                reason=one_line(self.near),
                hint=info.hint,
            )
        silent = classify.silence(timeout, expected=(), seen=())
        if not self.instead:
            return silent
        came = "; came instead: " + " | ".join(self.came_instead)
        label = "no frame fitting the step before the timeout"
        return silent.model_copy(update={"label": label, "reason": one_line(silent.reason + came)})

    def judged(self, outcome: OutcomeRecord) -> OutcomeRecord:
        """A failure says the step it stopped at: `step 3/7: expect agent_completed: received 1011 …`."""
        if outcome.passed or self.finished:
            return outcome
        where = f"step {self.at + 1}/{len(self.steps)}: {self.current}"
        return outcome.model_copy(update={"label": one_line(f"{where}: {outcome.label}")})

    @property
    def finished(self) -> bool:
        """Whether every step is done (what remains is the hold after a last send)."""
        return self.at >= len(self.steps)

    @property
    def current(self) -> str:
        return "" if self.finished else self.steps[self.at].describe(self.check.event_field)

    def report(self) -> dict[str, Any]:
        """What a record keeps: steps done and reached, the step, the mismatch, what came instead, captured values."""
        total = len(self.steps)
        return {
            "total": total,
            "done": self.at,
            "reached": min(self.at + 1, total),
            "at": self.current,
            "mismatch": one_line(self.near) if self.near else None,
            "instead": self.came_instead,
            "captured": dict(self.captured),
        }
