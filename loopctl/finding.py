"""One thing `loopctl doctor` looked at: whether it is fine, what it saw, and the fix when it is not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # worth fixing, but nothing fails because of it
