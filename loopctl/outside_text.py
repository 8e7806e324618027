"""Text from outside (servers, builds, logs, files on disk) made fit to keep and show: the one boundary.

Redact first (every known form of every secret), then strip control characters, collapse whitespace and clip to
a documented length. Records keep this text; each renderer then escapes it for its own sink (terminal, markdown,
XML), because a record on disk may have been edited since loopctl wrote it.
"""

from __future__ import annotations

import re

from loopctl.secrets import redact

# The bounds docs/reliability.md lists: change them there too.
REASON_LIMIT = 200  # a close reason, a response body, a server's error text
NAME_LIMIT = 80  # an event name
SHORT_LIMIT = 40  # a bad value quoted back in a usage error (a header, a hex string)
NOTE_LIMIT = 100  # a phase's last line on the live board
LINE_LIMIT = 300  # one line of a log excerpt (server evidence, a container's last lines)
EVENT_SAMPLE = 25  # event names kept per check: the first 25 and the last 25, with the count of all
ELLIPSIS = "…"

# C0 and C1 controls (escape sequences start with ESC or CSI), DEL, lone surrogates (not encodable), the
# invisible characters that reorder or hide text on a terminal (bidi overrides, zero-width marks, BOM), and the
# two non-characters XML forbids.
_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff\ufffe\uffff]"
)


def one_line(text: str, limit: int | None = REASON_LIMIT) -> str:
    """Redacted, without control characters, whitespace collapsed, at most `limit` characters (None: no clip)."""
    cleaned = redact(_CONTROLS.sub("", redact(text)))
    return clip(" ".join(cleaned.split()), limit)


def first_line(text: str, limit: int | None = REASON_LIMIT) -> str:
    """The first line of what a server or library said, redacted as a whole before the other lines are dropped."""
    masked = redact(text).strip().splitlines()
    return one_line(masked[0] if masked else "", limit)


def last_lines(text: str, count: int, limit: int = LINE_LIMIT) -> list[str]:
    """The last `count` lines of a log, redacted, without control characters, each clipped to `limit`."""
    return [clip(line, limit) for line in lines(text).rstrip("\n").splitlines()[-count:]]


def lines(text: str) -> str:
    """Redacted, without control characters, but keeping its line breaks (a log excerpt)."""
    return redact(_CONTROLS.sub("", redact(text.replace("\r\n", "\n"))))


def printable(text: str) -> str:
    """Only the control characters gone (tabs and line breaks stay): text already kept, on its way to a sink."""
    return _CONTROLS.sub("", text)


def clip(text: str, limit: int | None) -> str:
    """At most `limit` characters, the last an ellipsis when cut: only for text already masked (see `one_line`)."""
    return text if limit is None or len(text) <= limit else text[: limit - 1] + ELLIPSIS
