"""The sections phases hand on: typed on the record, kept as written, and one answer to which image deploys."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopctl.config import Config, DeployConfig, DockerDeployConfig
from loopctl.errors import LoopctlError
from loopctl.phases.base import Context, RunOptions
from loopctl.phases.cloudrun.deploy import image_reference as cloudrun_image
from loopctl.phases.docker.deploy import image_reference as docker_image
from loopctl.records.record import Record
from loopctl.records.sections import BuildSection, DeploySection, PushSection, ReleaseSection, Sections
from loopctl.records.store import Store
from tests.test_cloudrun_spec import cloudrun

PINNED = "europe-west1-docker.pkg.dev/p/r/agent@sha256:" + "ab" * 32
BUILT = "europe-west1-docker.pkg.dev/p/r/agent:loopctl-0002"
ASKED = "europe-west1-docker.pkg.dev/p/r/agent@sha256:" + "cd" * 32

WRITTEN = {
    "schema": 2,
    "number": 2,
    "started_at": "2026-01-01T00:00:00Z",
    "finished_at": "2026-01-01T00:01:00Z",
    "status": "success",
    "build": {"image": "agent", "reference": BUILT, "image_id": None, "cached": "no", "source": "gs://b/o.tgz"},
    "push": {"reference": BUILT, "digest": "sha256:" + "ab" * 32, "pinned": PINNED, "uploaded": True, "retries": 0},
    "deploy": {"target": "cloudrun", "revision": "agent-00002-abc", "traffic": [{"revision": "x", "percent": 100}]},
    "release": {"action": "rolled_back", "to": "agent-00001-xyz", "from": "agent-00002-abc", "reason": "probe failed"},
}


def test_every_section_is_typed_on_the_record_and_written_back_as_it_was_read() -> None:
    record = Record.model_validate(WRITTEN)
    assert isinstance(record.build, BuildSection) and record.build.reference == BUILT
    assert isinstance(record.push, PushSection) and record.push.pinned == PINNED
    assert isinstance(record.deploy, DeploySection) and record.deploy.revision == "agent-00002-abc"
    assert isinstance(record.release, ReleaseSection) and record.release.to == "agent-00001-xyz"
    written = record.to_json_dict()
    # Keys no model declares ride along, and a declared key the phase never wrote is not added as null.
    for name in ("build", "push", "deploy", "release"):
        assert written[name] == WRITTEN[name]
    assert Record.model_validate(written) == record


def test_a_record_without_sections_still_loads() -> None:
    record = Record.model_validate(
        {key: value for key, value in WRITTEN.items() if key in ("number", "status")}
        | {
            "schema": 1,
            "started_at": "2025-09-07T18:20:05Z",
            "finished_at": "2025-09-07T18:22:31Z",
        }
    )
    assert (record.build, record.push, record.deploy, record.release) == (None, None, None, None)


def contexts(tmp_path: Path, sections: Sections, image: str | None) -> tuple[Context, Context]:
    """The same sections and options, handed to a docker deploy and to a Cloud Run deploy."""
    docker = Config(project="t", deploy=DeployConfig(target="docker", docker=DockerDeployConfig(name="t")))
    run = Config(project="t", deploy=DeployConfig(target="cloudrun", cloudrun=cloudrun()))
    options = RunOptions(image=image)
    return (
        Context(docker, Store(tmp_path), 2, lambda event: None, options, sections),
        Context(run, Store(tmp_path), 2, lambda event: None, options, sections),
    )


@pytest.mark.parametrize(
    ("sections", "image", "expected"),
    [
        (Sections(build=BuildSection(reference=BUILT), push=PushSection(pinned=PINNED)), None, PINNED),
        (Sections(build=BuildSection(reference=BUILT), push=PushSection(pinned=PINNED)), ASKED, ASKED),
        (Sections(), ASKED, ASKED),
    ],
)
def test_both_targets_deploy_the_same_image_for_the_same_sections(
    tmp_path: Path, sections: Sections, image: str | None, expected: str
) -> None:
    docker_ctx, cloudrun_ctx = contexts(tmp_path, sections, image)
    assert docker_image(docker_ctx) == cloudrun_image(cloudrun_ctx, cloudrun()) == expected


def test_a_tag_built_and_never_pushed_runs_on_docker_and_is_refused_by_cloud_run(tmp_path: Path) -> None:
    docker_ctx, cloudrun_ctx = contexts(tmp_path, Sections(build=BuildSection(reference=BUILT)), None)
    assert docker_image(docker_ctx) == BUILT  # the local engine has it
    with pytest.raises(LoopctlError, match="nothing to deploy: no --image and no pushed digest"):
        cloudrun_image(cloudrun_ctx, cloudrun())
