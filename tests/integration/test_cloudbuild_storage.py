"""The Cloud Storage side of the Cloud Build builder: the log tail and the source bucket, with the real storage client
against loopctl's GCS emulator (no engine, no registry needed), and, as a second opinion where it supports the calls,
against gcp-storage-emulator from PyPI (tests/support/third_party_gcs.py says what it does not support)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopctl.config import BuildConfig, CloudBuildConfig
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.cloudbuild import source
from loopctl.phases.cloudbuild.api import CloudBuildApi
from loopctl.phases.cloudbuild.logs import LogTail
from loopctl.phases.cloudbuild.request import build_request
from loopctl.phases.cloudbuild.source import pack_context, source_name, upload_source
from tests.support.gcs_emulator import GcsEmulator
from tests.support.third_party_gcs import ThirdPartyGcs

LOGS = "gs://logs-bucket"
BUILD_ID = "b-1"


@pytest.fixture
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator() as emulator:
        yield emulator


@pytest.fixture(params=["loopctl", "gcp-storage-emulator"])
def storage(request: pytest.FixtureRequest) -> Iterator[GcsEmulator | ThirdPartyGcs]:
    """loopctl's emulator, then the third-party one: the calls a test makes must work against both."""
    with GcsEmulator() if request.param == "loopctl" else ThirdPartyGcs() as emulator:
        yield emulator


def packed(context: Path, build: BuildConfig) -> bytes:
    """The tarball loopctl makes of this context, as bytes."""
    sink = io.BytesIO()
    pack_context(context, build, sink)
    return sink.getvalue()


def api_for(gcs: GcsEmulator | ThirdPartyGcs, *, project: str = "proj", region: str = "global") -> CloudBuildApi:
    config = CloudBuildConfig(project=project, region=region, storage_endpoint=gcs.endpoint, api_endpoint=gcs.endpoint)
    return CloudBuildApi(config, log=lambda line: None, backoff_s=0.01)


def test_the_log_tail_follows_an_object_cloud_build_rewrites(storage: GcsEmulator | ThirdPartyGcs) -> None:
    """Each append is a new generation and, on loopctl's emulator, the old one is gone (404): a tail pinned to the
    first read would stop there. gcp-storage-emulator ignores generations: there it checks the ranged reads."""
    gcs = storage
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
    assert tail.text().count("Starting Step #0") == 1  # each byte read once


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


# --- the source bucket -------------------------------------------------------------------------


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\nCOPY app.txt /\n")
    (tmp_path / "ctx" / "app.txt").write_text("hello\n")
    return tmp_path / "ctx"


def build_config(gcs: GcsEmulator | ThirdPartyGcs, context: Path, *, region: str = "global") -> BuildConfig:
    cloudbuild = CloudBuildConfig(
        project="proj", region=region, storage_endpoint=gcs.endpoint, api_endpoint=gcs.endpoint
    )
    return BuildConfig(context=str(context), image="127.0.0.1:5000/app", builder="cloudbuild", cloudbuild=cloudbuild)


DIGEST = "sha256:" + "ab" * 32


def test_an_object_already_there_is_reused_only_when_its_checksum_matches(
    storage: GcsEmulator | ThirdPartyGcs, context: Path
) -> None:
    gcs = storage
    build = build_config(gcs, context)
    gcs.create_bucket("proj_cloudbuild")
    gcs.put("proj_cloudbuild", source_name(DIGEST), b"planted bytes", "application/gzip")
    planted = gcs.generation("proj_cloudbuild", source_name(DIGEST))
    uploaded = upload_source(api_for(gcs), context, build, DIGEST)
    assert uploaded.uploaded is True  # replaced: the object did not hold this context
    assert gcs.read("proj_cloudbuild", source_name(DIGEST)) == packed(context, build)
    assert uploaded.generation == gcs.generation("proj_cloudbuild", source_name(DIGEST)) != planted

    again = upload_source(api_for(gcs), context, build, DIGEST)
    assert again.uploaded is False and again.generation == uploaded.generation


def test_an_object_another_writer_replaced_after_loopctl_looked_is_not_overwritten(
    gcs: GcsEmulator, context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload is conditional on the generation loopctl looked at: other bytes written in between stay, and the
    run says the object changed instead of building from whichever write came last."""
    build = build_config(gcs, context)
    gcs.create_bucket("proj_cloudbuild")
    gcs.put("proj_cloudbuild", source_name(DIGEST), b"planted bytes", "application/gzip")
    looked = source._existing

    def look_then_race(api: CloudBuildApi, bucket: Any, name: str) -> Any:
        found = looked(api, bucket, name)
        monkeypatch.setattr(source, "_existing", looked)
        gcs.put("proj_cloudbuild", name, b"another writer's bytes", "application/gzip")
        return found

    monkeypatch.setattr(source, "_existing", look_then_race)
    with pytest.raises(LoopctlError) as caught:
        upload_source(api_for(gcs), context, build, DIGEST)
    assert caught.value.kind == ErrorKind.SOURCE_CHANGED
    assert gcs.read("proj_cloudbuild", source_name(DIGEST)) == b"another writer's bytes"


def test_a_context_over_the_multipart_limit_goes_up_as_a_resumable_upload(gcs: GcsEmulator, context: Path) -> None:
    """A Node service's context passes 8 MiB easily: the client then uploads in a resumable session, and the
    precondition on the generation still holds."""
    (context / "vendor.bin").write_bytes(os.urandom(9 * 1024 * 1024))  # incompressible: the tarball stays big
    build = build_config(gcs, context)
    gcs.create_bucket("proj_cloudbuild")
    gcs.put("proj_cloudbuild", source_name(DIGEST), b"planted bytes", "application/gzip")
    uploaded = upload_source(api_for(gcs), context, build, DIGEST)
    assert uploaded.uploaded is True and uploaded.size > 8 * 1024 * 1024
    assert gcs.read("proj_cloudbuild", source_name(DIGEST)) == packed(context, build)
    assert uploaded.generation == gcs.generation("proj_cloudbuild", source_name(DIGEST))
    assert ("PUT", "/upload/storage/v1/b/proj_cloudbuild/o") in gcs.requests  # the session, not one multipart POST


def test_a_bucket_of_that_name_in_another_project_is_an_error_that_says_so(gcs: GcsEmulator, context: Path) -> None:
    gcs.create_bucket("proj_cloudbuild", project="someone-else")
    with pytest.raises(LoopctlError) as caught:
        upload_source(api_for(gcs), context, build_config(gcs, context), DIGEST)
    assert caught.value.kind == "bucket_not_owned"
    assert "gs://proj_cloudbuild belongs to another project" in caught.value.message
    assert "build.cloudbuild.bucket" in caught.value.hint
    assert gcs.uploads() == 0 and gcs.buckets["proj_cloudbuild"] == {}


def test_the_source_bucket_is_created_in_the_builds_region(gcs: GcsEmulator, context: Path) -> None:
    upload_source(
        api_for(gcs, region="europe-west1"), context, build_config(gcs, context, region="europe-west1"), DIGEST
    )
    assert gcs.bucket_location["proj_cloudbuild"] == "EUROPE-WEST1"
    assert gcs.bucket_owner["proj_cloudbuild"] == gcs.number_of("proj")


def test_the_build_request_pins_the_sources_generation() -> None:
    build = BuildConfig(image="127.0.0.1:5000/app", builder="cloudbuild", cloudbuild=CloudBuildConfig(project="proj"))
    request = build_request(build, bucket="b", source="s.tar.gz", generation=1234, references=["r"], cache_from=None)
    assert request.source.storage_source.generation == 1234
