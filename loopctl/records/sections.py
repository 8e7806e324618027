"""What the build, push, deploy and release phases hand on: one typed section each, as the record keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


class _Section(BaseModel):
    # Keys a phase adds for the record alone (Cloud Build's source, Cloud Run's traffic) ride along as extras,
    # and records written by newer versions keep theirs.
    model_config = ConfigDict(extra="allow", frozen=True)

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only the keys the phase wrote: a field it never set is absent from the record, not `null`."""
        written = self.model_fields_set | set(self.model_extra or {})
        return {key: value for key, value in handler(self).items() if key in written}


class BuildSection(_Section):
    """The image the build made: its name, the tag deploy may run, the input digest that names its inputs."""

    image: str | None = None
    reference: str | None = None  # the tag this build's image is known by (the input tag when nothing is pushed)
    image_id: str | None = None
    input_digest: str | None = None
    cached: str | None = None  # "no" | "local" | "remote"
    tags: list[str] = Field(default_factory=list)
    cache_tag: str | None = None
    cache_note: str | None = None
    builder: str | None = None  # "cloudbuild"; absent for the local engine
    project: str | None = None  # Cloud Build's project and region: the console link is made from them
    region: str | None = None
    build_id: str | None = None
    digest: str | None = None  # what Cloud Build reports it pushed
    queued_s: float | None = None
    working_s: float | None = None
    cancelled: bool | None = None


class PushSection(_Section):
    """What the registry holds: the digest that pins what deploy runs."""

    reference: str | None = None
    digest: str | None = None
    pinned: str | None = None  # `repository@sha256:…`
    uploaded: bool | None = None
    pushed_by: str | None = None
    retries: int | None = None


class DeploySection(_Section):
    """What is running: the target, the revision or container, its URL and the image it runs."""

    target: str | None = None  # "docker" | "cloudrun" | "url"
    service: str | None = None
    revision: str | None = None
    url: str | None = None
    image: str | None = None
    container_id: str | None = None
    container: str | None = None  # records before `container_id`
    reused: bool | None = None
    retries: int | None = None
    audience: str | None = None
    public: bool | None = None
    previous_revision: str | None = None
    restored_latest: str | None = None
    made_public: bool | None = None
    log_uri: str | None = None
    console_url: str | None = None


class ReleaseSection(_Section):
    """Where traffic went once the probe had spoken."""

    action: str | None = None  # "none" | "promoted" | "not_promoted" | "rolled_back"
    revision: str | None = None
    to: str | None = None
    reason: str | None = None


Section = BuildSection | PushSection | DeploySection | ReleaseSection


@dataclass
class Sections:
    """The sections filled so far this iteration, by phase: what a later phase reads from an earlier one."""

    build: BuildSection | None = None
    push: PushSection | None = None
    deploy: DeploySection | None = None
    release: ReleaseSection | None = None

    def fill(self, section: Section) -> None:
        if isinstance(section, BuildSection):
            self.build = section
        elif isinstance(section, PushSection):
            self.push = section
        elif isinstance(section, DeploySection):
            self.deploy = section
        else:
            self.release = section


def image_to_deploy(image: str | None, sections: Sections) -> str | None:
    """`--image`, else the digest push pinned, else the tag build made when nothing pushed it; each target asks here."""
    if image:
        return image
    if sections.push is not None and sections.push.pinned:
        return sections.push.pinned
    return sections.build.reference if sections.build is not None else None
