"""When a failing check's log holds no exception: the lines that say why the server refused, and the most telling.

Services log a refusal at WARNING (`authentication failed: The specified alg value is not allowed`) or without a
level (`token rejected: JsonWebTokenError: invalid algorithm`). Kept: the window's lines at WARNING and above, the
lines that share words with the close reason or the HTTP body, and, for a check refused at authentication, the lines
that speak of tokens and credentials. Quoted: the one with the most of these marks (the last of equals).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from loopctl.evidence.extract import ERROR_SEVERITIES, EXCERPT_LIMIT, MESSAGE_LIMIT, LogLine, clean, expand
from loopctl.records.record import UNLEVELLED, ServerError

WARNING_SEVERITIES = ("WARNING", "WARN", *ERROR_SEVERITIES)
_LEVEL_TEXT = re.compile(
    r"(?:^|[\s\[(|])(?P<level>WARNING|WARN|ERROR|CRITICAL|FATAL)(?:$|[\s\]):|])|\blevel=(?P<kv>warn|warning)\b",
    re.IGNORECASE,
)
# `"GET /fail HTTP/1.1" 500` (uvicorn, gunicorn, nginx), `"WebSocket /ws" 403` (uvicorn), `GET /fail 500` (morgan).
_ACCESS = re.compile(r'"?\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|WebSocket) /\S*(?: HTTP/[\d.]+)?"? \d{3}\b')
_WORD = re.compile(r"[a-z][a-z0-9]{3,}")
# Words every refusal and access log holds: sharing them says nothing about why.
_COMMON_WORDS = (
    "http https that this with from have were your there their what when which will would could should about into "
    "than then they them been being does over also only just more most some such json true false null none info "
    "expected instead request response server client error message detail websocket"
)
_COMMON = frozenset(_COMMON_WORDS.split())
_AUTH_WORDS = re.compile(
    r"auth|token|jwt|credential|signature|unauthori[sz]ed|forbidden|denied|reject|expired|invalid|permission|"
    r"\balg\b|algorithm|apikey|api.key|login|password|secret",
    re.IGNORECASE,
)


def cause(lines: Sequence[LogLine], said: str, *, refused: bool) -> ServerError | None:
    """The line that says why, among `lines`; `said` is the close reason or HTTP body, `refused`: stopped at auth."""
    words = _words(said)
    kept: list[tuple[int, str, str | None]] = []
    for text, severity in (pair for line in lines for pair in expand(line)):
        if _ACCESS.search(text):
            continue  # an access log line repeats the status it answered, never why
        level = _level(text, severity)
        marks = (2 if level else 0) + min(3, len(_words(text) & words))
        marks += 1 if refused and _AUTH_WORDS.search(text) else 0
        if marks:
            kept.append((marks, text, level))
    if not kept:
        return None
    best = max(range(len(kept)), key=lambda index: (kept[index][0], index))
    _, text, level = kept[best]
    excerpt = tuple(clean(line) for _, line, _ in kept[-EXCERPT_LIMIT:])
    return ServerError(type=level or UNLEVELLED, message=clean(text.strip(), MESSAGE_LIMIT), lines=excerpt)


def _words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if word not in _COMMON}


def _level(text: str, severity: str | None) -> str | None:
    if severity is not None:
        upper = severity.upper()
        return "WARNING" if upper == "WARN" else upper if upper in WARNING_SEVERITIES else None
    found = _LEVEL_TEXT.search(text[:120])  # a level names itself near the start of a line
    if found is None:
        return None
    level = (found["level"] or found["kv"]).upper()
    return "WARNING" if level == "WARN" else level
