"""What a failed iteration left serving: when build, push or deploy failed, the previous deployment still serves."""

from __future__ import annotations

from loopctl.records.record import GATING_PHASES, Record
from loopctl.reports.tables import code, text


def stopped_before_probe(record: Record) -> bool:
    """A build, push or deploy failed, so no check ran: nothing to compare, only what failed and what serves."""
    return not record.checks and any(
        phase.status == "failed" and phase.name in GATING_PHASES for phase in record.phases
    )


def still_serving(record: Record, previous: Record) -> list[str]:
    """What the failed iteration left serving: the deployment of the iteration it is compared with."""
    deployed = record.phase("deploy")
    why = "the new deployment did not take over" if deployed and deployed.status == "failed" else "nothing was deployed"
    deploy = previous.deploy
    name = (deploy.revision or deploy.service) if deploy is not None else None
    if deploy is None or not name:
        return [f"**Still serving**: {why}, and iteration {previous.number} deployed nothing either."]
    url = f" at {text(deploy.url)}" if deploy.url else ""
    return [
        f"**Still serving**: {why}, so iteration {previous.number}'s deployment {code(str(name))}{url} is what "
        "serves; its checks were not run again."
    ]
