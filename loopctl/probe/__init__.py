"""WebSocket and HTTP checks against a running service, and the classifier that judges them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `classify` imports this package for the code tables only: the check types can wait
    from loopctl.probe.spec import Check, ProbeResult


async def run_check(check: Check) -> ProbeResult:
    """Run one check of either kind, under a fresh trace id; the result keeps the id and when it ran."""
    from dataclasses import replace

    from loopctl.probe.trace import Trace, utc_stamp, with_trace

    trace = Trace.given(check.headers) or Trace.fresh()
    traced = replace(check, headers=with_trace(check.headers, trace))
    started = utc_stamp()
    result = await _run(traced)
    return replace(result, trace_id=trace.trace_id, started_at=started, finished_at=utc_stamp())


async def _run(check: Check) -> ProbeResult:
    if check.kind == "websocket":
        from loopctl.probe.websocket import run_websocket_check

        return await run_websocket_check(check)
    from loopctl.probe.http import run_http_check

    return await run_http_check(check)
