"""What a failed iteration left serving: when build, push or deploy failed, the previous deployment still serves."""

from __future__ import annotations

from loopctl.records.record import GATING_PHASES, Record
from loopctl.records.sections import DeploySection
from loopctl.reports.services import sections_of
from loopctl.reports.tables import code, service_order, several, text


def stopped_before_probe(record: Record) -> bool:
    """A build, push or deploy failed, so no check ran: nothing to compare, only what failed and what serves."""
    return not record.checks and any(
        phase.status == "failed" and phase.name in GATING_PHASES for phase in record.phases
    )


def still_serving(record: Record, previous: Record) -> list[str]:
    """What the failed iteration left serving: the deployment of the iteration it is compared with."""
    if several(record):
        return _services_serving(record, previous)
    deployed = record.phase("deploy")
    why = "the new deployment did not take over" if deployed and deployed.status == "failed" else "nothing was deployed"
    serving = _deployment(previous.deploy)
    if not serving:
        return [f"**Still serving**: {why}, and iteration {previous.number} deployed nothing either."]
    return [
        f"**Still serving**: {why}, so iteration {previous.number}'s deployment {serving} is what serves; its checks "
        "were not run again."
    ]


def _services_serving(record: Record, previous: Record) -> list[str]:
    """Per service: this iteration's deployment where its deploy went through, else the one compared with."""
    lines = ["**Still serving**: not every service deployed, so nothing was probed; what serves now, per service:", ""]
    for service in service_order(record):
        deployed = next((p for p in record.phases if p.name == "deploy" and p.service == service), None)
        if deployed is not None and deployed.status == "ok":
            what = f"this iteration's deployment {_deployment(sections_of(record, service).deploy)}"
        else:
            why = "the new deployment did not take over" if deployed and deployed.status == "failed" else "not deployed"
            before = _deployment(sections_of(previous, service).deploy) if service in (previous.services or {}) else ""
            kept = f"iteration {previous.number}'s deployment {before}" if before else "nothing deployed before either"
            what = f"{why}, so {kept}"
        lines.append(f"- **{text(service)}**: {what}")
    return lines


def _deployment(deploy: DeploySection | None) -> str:
    """`` `api-00002-abc` at https://… ``, or empty when nothing was deployed."""
    name = (deploy.revision or deploy.service) if deploy is not None else None
    if deploy is None or not name:
        return ""
    return code(name) + (f" at {text(deploy.url)}" if deploy.url else "")
