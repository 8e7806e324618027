"""A project of several services in the report: whose sections a phase or check reads, and how each is named."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from loopctl.records.record import Record, ServiceRecord
from loopctl.records.sections import BuildSection, DeploySection, PushSection
from loopctl.reports.tables import code, service_order, text

_Owned = TypeVar("_Owned")


def sections_of(record: Record, service: str | None) -> ServiceRecord:
    """The build, push, deploy and release of `service`; the record's own for one service (or an unknown name)."""
    if service is not None and record.services is not None and service in record.services:
        return record.services[service]
    return ServiceRecord(build=record.build, push=record.push, deploy=record.deploy, release=record.release)


def by_service(
    record: Record, items: Iterable[_Owned], service: Callable[[_Owned], str | None]
) -> list[tuple[str | None, list[_Owned]]]:
    """Items grouped by their service, services in deploy order (dependencies first), then those of none."""
    order: list[str | None] = [*service_order(record), None]
    groups: dict[str | None, list[_Owned]] = {}
    for item in items:
        groups.setdefault(service(item), []).append(item)
    named = [(name, groups[name]) for name in order if name in groups]
    return named + [(name, found) for name, found in groups.items() if name not in order]


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
