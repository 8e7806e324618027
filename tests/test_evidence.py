"""The exception a container logged, quoted in a 1006/1011 hint: the last line of the last traceback only."""

from __future__ import annotations

import pytest

from loopctl.phases.docker.evidence import last_exception

UVICORN = """\
INFO:     127.0.0.1:50000 - "WebSocket /ws" [accepted]
ERROR:    Exception in ASGI application
Traceback (most recent call last):
  File "/app/app.py", line 17, in chat
    reply = message["payload"]["text"]
            ~~~~~~~~~~~~~~~~~~^^^^^^^^
KeyError: 'text'
INFO:     connection closed
"""

NODE = """\
/app/server.js:12
    socket.send(reply.text.trim());
                           ^
TypeError: Cannot read properties of undefined (reading 'trim')
    at WebSocket.<anonymous> (/app/server.js:12:28)
    at WebSocket.emit (node:events:519:28)
"""


@pytest.mark.parametrize(
    ("log", "line"),
    [
        (UVICORN, "KeyError: 'text'"),
        (NODE, "TypeError: Cannot read properties of undefined (reading 'trim')"),
        (UVICORN + "ValueError: later\n", "KeyError: 'text'"),  # no traceback right above it: not evidence
        ("INFO: all good\nConnectionError mentioned in prose\n", None),
        ("", None),
    ],
)
def test_the_last_traceback_line_is_the_evidence(log: str, line: str | None) -> None:
    assert last_exception(log) == line


def test_the_evidence_is_clipped_and_on_one_line() -> None:
    log = "Traceback (most recent call last):\n  File x\nRuntimeError: " + "y" * 500 + "\n"
    found = last_exception(log)
    assert found is not None and len(found) == 200 and found.endswith("…") and "\n" not in found
