"""How far a check got on the request path, and the one depth that passes: the probe and the record both ask here."""

from __future__ import annotations

# 1 handshake, 2 auth, 3 processing, 4 partial, 5 every expectation met.
DEPTH_SUCCESS = 5


def passed_at(depth: int) -> bool:
    return depth == DEPTH_SUCCESS
