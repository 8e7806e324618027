"""What config.yaml, `loopctl probe`'s flags and the probe say alike about the wire: token modes, app close codes."""

from __future__ import annotations

from typing import Literal

# How a check sends its token: `Authorization: Bearer`, a `jwt.<token>` subprotocol, `?token=`, or only where a
# conversation step's `send` says `{token}`.
AuthMode = Literal["bearer", "subprotocol", "query", "message"]
# Plain HTTP has no subprotocols and no conversation steps.
HttpAuthMode = Literal["bearer", "query"]

# The close codes RFC 6455 leaves to the application (section 7.4.2): config maps them to a category.
APPLICATION_CLOSE_CODES = range(4000, 5000)
APPLICATION_RANGE_TEXT = f"{APPLICATION_CLOSE_CODES.start}–{APPLICATION_CLOSE_CODES.stop - 1}"
