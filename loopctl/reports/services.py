"""A project of several services in the report: whose sections a phase or check reads, and how each is named."""

from __future__ import annotations

from loopctl.records.record import Record, ServiceRecord
from loopctl.records.sections import BuildSection, DeploySection, PushSection
from loopctl.reports.tables import code, service_order, text


def sections_of(record: Record, service: str | None) -> ServiceRecord:
    """The build, push, deploy and release of `service`; the record's own for one service (or an unknown name)."""
    sections = record.service_sections
    if record.services is None:
        return next(iter(sections.values()))
    return sections.get(service or "", ServiceRecord())


def service_lines(record: Record) -> list[str]:
    """The header's line per service: its revision or container, where it answers, and the image digest it runs."""
    services = record.services or {}
    lines = [f"  - **{text(name)}**: {deployed(services[name])}" for name in service_order(record)]
    return ["- **Services**, in deploy order:", *lines] if lines else ["- **Services**: none"]


def deployed(sections: ServiceRecord) -> str:
    """`` `api-00002-abc` at https://…, image `sha256:…` ``; `not deployed` when nothing ran."""
    deploy, push, build = sections.deploy or DeploySection(), sections.push or PushSection(), sections.build
    name = deploy.revision or deploy.service
    digest = image_digest(push, build or BuildSection(), deploy)
    parts = [code(name) if name else "not deployed"]
    if deploy.url:
        parts.append(f"at {text(deploy.url)}")
    line = " ".join(parts)
    return f"{line}, image {code(digest)}" if digest else line


def image_digest(push: PushSection, build: BuildSection, deploy: DeploySection) -> str:
    """The digest that names what runs: pushed, else built, else the one the engine ran (an image not built here)."""
    ran = (deploy.model_extra or {}).get("image_id")
    return push.digest or build.image_id or (ran if isinstance(ran, str) else "") or ""
