"""`loopctl classify CODE`: what a close code or an HTTP status means to loopctl."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from loopctl.errors import UsageError
from loopctl.probe.classify import AppCode, Origin, describe_close_code
from loopctl.probe.codes import CONNECT_FAILURES, DAPHNE_1011_HINT, EMPTY_403_HINT, NEVER_ON_WIRE, describe_http_status

EXPLAIN_SCHEMA = 1


@dataclass(frozen=True)
class Explanation:
    """One code, read the way the classifier reads it."""

    code: int
    kind: str
    name: str
    category: str
    depth: int
    origin: str | None
    on_wire: bool
    meaning: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return {"schema": EXPLAIN_SCHEMA, **asdict(self)}


def explain(code: int, *, origin: Origin = "server", app_codes: Mapping[int, AppCode] | None = None) -> Explanation:
    """Explain a WebSocket close code (1000–4999) or an HTTP status at the upgrade (100–599)."""
    if 100 <= code <= 599:
        return _explain_http(code)
    if not 1000 <= code <= 4999:
        raise UsageError(
            f"{code} is neither an HTTP status (100–599) nor a WebSocket close code (1000–4999)",
            hint="e.g. loopctl classify 1008, or loopctl classify 403",
        )
    info = describe_close_code(code, origin=origin, app_codes=app_codes)
    meaning = NEVER_ON_WIRE.get(code) or _close_meaning(code, origin, info.category)
    hint = info.hint
    if code == 1011 and origin == "server":
        hint = f"{hint} On Django Channels (Server: daphne): {DAPHNE_1011_HINT}"
    return Explanation(
        code,
        "close",
        info.label,
        info.category,
        info.depth,
        origin,
        code not in NEVER_ON_WIRE,
        meaning,
        hint,
    )


def _close_meaning(code: int, origin: Origin, category: str) -> str:
    who = "the probe closed the connection" if origin == "client" else "the server closed the connection"
    if code == 1000:
        return f"{who} normally; before the expected events arrived this is `closed_early`"
    return f"{who} with {code}: {category.replace('_', ' ')}"


def _explain_http(status: int) -> Explanation:
    name, hint = describe_http_status(status)
    meaning = f"the server answered the WebSocket upgrade with HTTP {status} instead of 101"
    if status in (401, 403):
        iam = CONNECT_FAILURES["iam_denied"]
        app = (
            f"With an empty body: {EMPTY_403_HINT} With the app's own body: {hint}"
            if status == 403
            else f"With an empty or app body: {hint}"
        )
        hint = f"With an HTML 'Error: Forbidden' body this is Google's front end (iam_denied): {iam.hint} {app}"
    return Explanation(status, "http", name, "handshake_rejected", 1, "server", True, meaning, hint)
