"""The Cloud Storage side of the Cloud Build builder: the log tail and the source bucket, with the real storage client
against loopctl's GCS emulator (no engine, no registry needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopctl.config import CloudBuildConfig
from loopctl.phases.cloudbuild.api import CloudBuildApi
from loopctl.phases.cloudbuild.logs import LogTail
from tests.support.gcs_emulator import GcsEmulator

LOGS = "gs://logs-bucket"
BUILD_ID = "b-1"


@pytest.fixture
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator() as emulator:
        yield emulator


def api_for(gcs: GcsEmulator, *, project: str = "proj", region: str = "global") -> CloudBuildApi:
    config = CloudBuildConfig(project=project, region=region, storage_endpoint=gcs.endpoint, api_endpoint=gcs.endpoint)
    return CloudBuildApi(config, log=lambda line: None, backoff_s=0.01)


def test_the_log_tail_follows_an_object_cloud_build_rewrites(gcs: GcsEmulator) -> None:
    """Each append is a new generation and the old one is gone: a tail pinned to the first read would stop there."""
    shown: list[str] = []
    tail = LogTail(api_for(gcs), LOGS, BUILD_ID, shown.append)
    gcs.append("logs-bucket", f"log-{BUILD_ID}.txt", b'starting build "b-1"\nStarting Step #0 - "build"\n')
    tail.poll()
    gcs.append("logs-bucket", f"log-{BUILD_ID}.txt", b'Step #0 - "build": no module named frobnicate\n')
    tail.poll()
    gcs.append("logs-bucket", f"log-{BUILD_ID}.txt", b"ERROR\nERROR: build step 0 failed\n")
    tail.poll(final=True)
    assert tail.step_lines(0) == ["no module named frobnicate"]
    assert tail.ended and shown[-1] == "ERROR: build step 0 failed"
    asked = [path for method, path in gcs.requests if "/o/" in path]
    assert len(asked) == 3


def test_the_emulator_answers_404_for_a_replaced_generation(gcs: GcsEmulator) -> None:
    gcs.append("logs-bucket", "log.txt", b"one\n")
    blob = api_for(gcs).storage.bucket("logs-bucket").blob("log.txt")
    assert blob.download_as_bytes() == b"one\n"
    first = blob.generation
    assert first is not None  # the client keeps the generation it read (X-Goog-Generation)
    gcs.append("logs-bucket", "log.txt", b"two\n")
    from google.api_core.exceptions import NotFound

    with pytest.raises(NotFound):
        blob.download_as_bytes(start=4)
    assert api_for(gcs).storage.bucket("logs-bucket").blob("log.txt").download_as_bytes(start=4) == b"two\n"
