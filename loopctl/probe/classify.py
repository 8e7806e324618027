"""The classifier: every way a probe can end, mapped to one outcome on the depth ladder. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from loopctl.outside_text import one_line
from loopctl.probe.codes import (
    APP_AUTH_WORDS,
    CLIENT_CLOSE,
    CLOSE_CODES,
    CONNECT_FAILURES,
    NEVER_ON_WIRE,
    CodeInfo,
    describe_http_status,
    handshake_hint,
    server_close_hint,
)
from loopctl.records.depth import DEPTH_SUCCESS
from loopctl.wire import APPLICATION_CLOSE_CODES

if TYPE_CHECKING:  # `loopctl classify` reads the tables here and must not pay for pydantic
    from loopctl.records.record import OutcomeRecord

Origin = Literal["server", "client"]

DEPTH_PARTIAL = 4
DEPTH_PROCESSING = 3
DEPTH_AUTH = 2
DEPTH_HANDSHAKE = 1


@dataclass(frozen=True)
class AppCode:
    """What an application close code (4000–4999) means, as configured in `probe.close_codes`."""

    category: str
    depth: int | None = None
    hint: str = ""

    def resolved_depth(self) -> int:
        if self.depth is not None:
            return self.depth
        words = self.category.lower()
        return DEPTH_AUTH if any(word in words for word in APP_AUTH_WORDS) else DEPTH_PROCESSING


def _outcome(
    *, code: int | None, category: str, depth: int, label: str, reason: str, hint: str, origin: Origin | None = None
) -> OutcomeRecord:
    """The outcome as the record keeps it: the probe makes no other kind."""
    from loopctl.records.record import OutcomeRecord

    return OutcomeRecord(
        code=code, category=category, depth=depth, label=label, reason=reason, hint=hint, origin=origin
    )


def connect_failure(category: str, message: str) -> OutcomeRecord:
    """No WebSocket/HTTP conversation happened: DNS, TCP, TLS or handshake trouble."""
    info = CONNECT_FAILURES[category]
    return _outcome(
        code=None, category=category, depth=info.depth, label=info.label, reason=one_line(message), hint=info.hint
    )


def handshake_status(status: int, body: str) -> OutcomeRecord:
    """The server answered the upgrade with an HTTP status instead of 101."""
    excerpt = one_line(body)
    if is_google_front_end_denial(status, body):
        return _iam_denied(status, excerpt)
    name, _ = describe_http_status(status)
    label = f"HTTP {status} {name} instead of 101 Switching Protocols"
    return _outcome(
        code=status,
        category="handshake_rejected",
        depth=DEPTH_HANDSHAKE,
        label=label,
        reason=excerpt,
        hint=handshake_hint(status, body),
    )


def _iam_denied(status: int, excerpt: str) -> OutcomeRecord:
    """Google's front end refused the request before the app saw it (the caller lacks run.invoker)."""
    info = CONNECT_FAILURES["iam_denied"]
    return _outcome(
        code=status,
        category="iam_denied",
        depth=info.depth,
        label=f"HTTP {status} {info.label}",
        reason=excerpt,
        hint=info.hint,
    )


def http_response(status: int, body: str, *, expect_status: int | None) -> OutcomeRecord:
    """An HTTP check's answer: success when the status is the expected one (any 2xx by default)."""
    name, hint = describe_http_status(status)
    ok = status == expect_status if expect_status is not None else 200 <= status < 300
    excerpt = one_line(body)
    if ok:
        return _outcome(
            code=status, category="success", depth=DEPTH_SUCCESS, label=f"HTTP {status} {name}", reason=excerpt, hint=""
        )
    if is_google_front_end_denial(status, body):
        return _iam_denied(status, excerpt)
    wanted = f"expected {expect_status}" if expect_status is not None else "expected 2xx"
    category, depth = {401: ("unauthorized", DEPTH_AUTH), 403: ("forbidden", DEPTH_AUTH)}.get(
        status, ("server_error" if status >= 500 else "unexpected_status", DEPTH_PROCESSING)
    )
    return _outcome(
        code=status, category=category, depth=depth, label=f"HTTP {status} {name} ({wanted})", reason=excerpt, hint=hint
    )


def is_google_front_end_denial(status: int, body: str) -> bool:
    """A 401/403 HTML page from Google's front end (IAM), as opposed to the app's own rejection."""
    if status not in (401, 403):
        return False
    text = body.lower()
    return "<html" in text and (
        "error: forbidden" in text or "error: unauthorized" in text or "does not have permission" in text
    )


def close(
    code: int,
    reason: str,
    *,
    origin: Origin | None,
    expected: Sequence[str] = (),
    seen: Sequence[str] = (),
    app_codes: Mapping[int, AppCode] | None = None,
    instead: Sequence[str] = (),
) -> OutcomeRecord:
    """The connection closed before the expectations were met (with a code, or dropped: 1006)."""
    reason = one_line(reason)
    if code == 1000 and origin != "client":
        if expected and events_matched(expected, seen):
            label, missing, hint = _missing_text(expected, seen, reason, instead)
            return _outcome(
                code=code,
                category="missing_events",
                depth=DEPTH_PARTIAL,
                label=label,
                reason=missing,
                hint=hint,
                origin=origin,
            )
        info = CLOSE_CODES[1000]
        label = f"{close_label(code, reason, origin)} before the expected events"
        return _outcome(
            code=code,
            category="closed_early",
            depth=DEPTH_PROCESSING,
            label=label,
            reason=reason,
            hint=info.hint,
            origin=origin,
        )
    info = describe_close_code(code, origin=origin, app_codes=app_codes)
    return _outcome(
        code=code,
        category=info.category,
        depth=info.depth,
        label=close_label(code, reason, origin),
        reason=reason,
        hint=info.hint,
        origin=origin,
    )


def silence(
    timeout: float, *, expected: Sequence[str], seen: Sequence[str], instead: Sequence[str] = ()
) -> OutcomeRecord:
    """The connection stayed open but the expected events did not all arrive before the timeout."""
    if expected and events_matched(expected, seen):
        label, reason, hint = _missing_text(expected, seen, f"no further event within {timeout:g}s", instead)
        return _outcome(
            code=None, category="missing_events", depth=DEPTH_PARTIAL, label=label, reason=reason, hint=hint
        )
    info = CONNECT_FAILURES["no_response"]
    return _outcome(
        code=None,
        category="no_response",
        depth=info.depth,
        label=info.label,
        reason=f"nothing within {timeout:g}s",
        hint=info.hint,
    )


def with_server(outcome: OutcomeRecord, server: str | None) -> OutcomeRecord:
    """Sharpen the hint of a close the server's software (its `Server:` header) explains better."""
    if outcome.code is None or outcome.origin != "server":
        return outcome
    hint = server_close_hint(outcome.code, server)
    return outcome.model_copy(update={"hint": hint}) if hint else outcome


def with_ignored_frames(outcome: OutcomeRecord, frames_ignored: int) -> OutcomeRecord:
    """A failed check names the frames it could not read as events: often the reason events seem missing."""
    if outcome.passed or not frames_ignored:
        return outcome
    note = f"{frames_ignored} frame(s) were not JSON events"
    return outcome.model_copy(update={"reason": f"{outcome.reason}; {note}" if outcome.reason else note})


def events(expected: Sequence[str], seen: Sequence[str]) -> OutcomeRecord | None:
    """Success or out-of-order once every expected event has arrived; None while some are missing."""
    if missing_events(expected, seen):
        return None
    if _in_order(expected, seen):
        return success(f"all {len(expected)} expected events arrived in order" if expected else "")
    order = " → ".join(name for name in seen if name in expected)
    hint = "The server emits the expected events in another order: check the handler's emit sequence."
    return _outcome(
        code=None,
        category="out_of_order",
        depth=DEPTH_PARTIAL,
        label="expected events arrived out of order",
        reason=order,
        hint=hint,
    )


def success(reason: str = "") -> OutcomeRecord:
    return _outcome(
        code=None, category="success", depth=DEPTH_SUCCESS, label="every expectation met", reason=reason, hint=""
    )


def missing_events(expected: Sequence[str], seen: Sequence[str]) -> list[str]:
    """Expected events that never arrived, in expected order."""
    return [name for name in expected if name not in seen]


def events_matched(expected: Sequence[str], seen: Sequence[str]) -> int:
    """How many of the expected events arrived."""
    return len(expected) - len(missing_events(expected, seen))


def describe_close_code(
    code: int, *, origin: Origin | None = "server", app_codes: Mapping[int, AppCode] | None = None
) -> CodeInfo:
    """What a close code means here: named, registered, application-defined or invalid."""
    if origin == "client" and code in CLIENT_CLOSE:
        return CLIENT_CLOSE[code]
    if code in CLOSE_CODES:
        return CLOSE_CODES[code]
    if code in APPLICATION_CLOSE_CODES:
        return _app_code(code, (app_codes or {}).get(code))
    if 3000 <= code <= 3999:
        return CodeInfo(
            "registered_code",
            DEPTH_PROCESSING,
            f"registered code {code}",
            f"Code {code} is registered with IANA by a library or framework: look it up in the server's stack.",
        )
    return CodeInfo(
        "invalid_code",
        DEPTH_PROCESSING,
        f"invalid close code {code}",
        "Close codes 1016–2999 are reserved and 0–999 unused: the server or a proxy is sending a broken code.",
    )


def close_label(code: int, reason: str, origin: Origin | None) -> str:
    """`received 1008 (policy violation) Authentication failed` — the line engineers grep for."""
    name = describe_close_code(code, origin=None).label
    if code in NEVER_ON_WIRE:
        return f"{code} ({name}) — {NEVER_ON_WIRE[code]}"
    verb = "sent" if origin == "client" else "received"
    return f"{verb} {code} ({name}) {reason}".rstrip()


def _app_code(code: int, mapped: AppCode | None) -> CodeInfo:
    if mapped is None:
        hint = (
            f"Application close code {code}: find it in the server's code, and name it in "
            "probe.close_codes so reports say what it means."
        )
        return CodeInfo("application_error", DEPTH_PROCESSING, f"application code {code}", hint)
    depth = mapped.resolved_depth()
    default_hint = (
        "The application rejected the client for auth/policy reasons: check token validation and claims."
        if depth == DEPTH_AUTH
        else f"The application closed with {mapped.category}: check where the server sends code {code}."
    )
    return CodeInfo(mapped.category, depth, mapped.category.replace("_", " "), mapped.hint or default_hint)


def _missing_text(
    expected: Sequence[str], seen: Sequence[str], reason: str, instead: Sequence[str] = ()
) -> tuple[str, str, str]:
    """Which expected events are missing, and the unexpected ones that came in their place (a renamed event)."""
    missing = missing_events(expected, seen)
    matched = len(expected) - len(missing)
    came = f"; {', '.join(instead)} came instead" if instead else ""
    label = f"{matched}/{len(expected)} expected events; missing {', '.join(missing)}{came}"
    got = f"The server got as far as {seen[-1] if seen else 'nothing'} and never sent {missing[0]}"
    if instead:
        names = f"{', '.join(instead[:-1])} and {instead[-1]}" if len(instead) > 1 else instead[0]
        got += f": {names} arrived in place of the expected names (renamed, or another branch)"
    return label, reason, f"{got}: look at the code path that should emit it and the server's logs after that point."


def reported_error(message: str) -> OutcomeRecord:
    """The app sent a frame it marks as an error (`fail_on`): its message, quoted; the check ends there."""
    info = CONNECT_FAILURES["server_reported_error"]
    reason = one_line(message)
    label = one_line(f"{info.label}: {reason}") if reason else info.label
    return _outcome(code=None, category=info.category, depth=info.depth, label=label, reason=reason, hint=info.hint)


def _in_order(expected: Sequence[str], seen: Sequence[str]) -> bool:
    position = iter(seen)
    return all(name in position for name in expected)
