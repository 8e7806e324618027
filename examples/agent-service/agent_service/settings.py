"""Service settings read once from the environment at start, with one-line errors for bad values."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field


class Fault(enum.StrEnum):
    """A way real backends misbehave, shown on purpose when FAULT names it."""

    AUTH = "auth"
    INTERNAL = "internal"
    DROP = "drop"
    PARTIAL = "partial"
    SLOW = "slow"
    HANDSHAKE403 = "handshake403"


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot start with."""


@dataclass(frozen=True)
class Settings:
    """What the service listens on, how it checks tokens and which fault it shows."""

    host: str
    port: int
    jwt_secret: str | None = field(repr=False)
    fault: Fault | None
    slow_delay: float


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read PORT, HOST, JWT_SECRET, FAULT and SLOW_DELAY; raise SettingsError naming the bad one."""
    return Settings(
        host=environ.get("HOST", "0.0.0.0"),
        port=_port(environ.get("PORT", "8080")),
        jwt_secret=environ.get("JWT_SECRET") or None,
        fault=_fault(environ.get("FAULT", "")),
        slow_delay=_seconds("SLOW_DELAY", environ.get("SLOW_DELAY", "2.0")),
    )


def _port(raw: str) -> int:
    if not raw.isdigit() or int(raw) > 65535:
        raise SettingsError(f"PORT must be an integer from 0 to 65535 (got {raw!r})")
    return int(raw)


def _fault(raw: str) -> Fault | None:
    if not raw:
        return None
    try:
        return Fault(raw)
    except ValueError:
        valid = ", ".join(fault.value for fault in Fault)
        raise SettingsError(f"FAULT must be one of: {valid} (got {raw!r})") from None


def _seconds(name: str, raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise SettingsError(f"{name} must be a number of seconds >= 0 (got {raw!r})")
    return seconds
