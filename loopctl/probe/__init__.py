"""WebSocket and HTTP checks against a running service, and the classifier that judges them."""

from __future__ import annotations

from loopctl.probe.spec import Check, ProbeResult


async def run_check(check: Check) -> ProbeResult:
    """Run one check of either kind."""
    if check.kind == "websocket":
        from loopctl.probe.websocket import run_websocket_check

        return await run_websocket_check(check)
    from loopctl.probe.http import run_http_check

    return await run_http_check(check)
