"""The `loopctl probe` load run both load benches start: the sample service's chat, its events, a bearer token."""

from __future__ import annotations

from collections.abc import Sequence

from timing import LOOPCTL

SECRET = "bench-load-secret-0001"
MESSAGE = '{"type": "user_message", "payload": {"content": "hi"}}'
TOKEN_ENV = "BENCH_TOKEN"


def probe_argv(url: str, events: Sequence[str], *, concurrency: int, duration: float | str) -> list[str]:
    """`loopctl probe URL ... --json --concurrency N --duration D`, the token read from TOKEN_ENV."""
    expect = [part for name in events for part in ("--expect-event", name)]
    return [
        str(LOOPCTL),
        "probe",
        url,
        "--send",
        MESSAGE,
        *expect,
        "--token-env",
        TOKEN_ENV,
        "--timeout",
        "60",
        "--json",
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
    ]


def probe_env(token: str) -> dict[str, str]:
    """The child's whole environment: the token and a PATH, nothing of the bench's own."""
    return {TOKEN_ENV: token, "PATH": "/usr/bin:/bin"}
