"""The Cloud Storage and Cloud Build emulators, driven by the official clients: what they promise about the APIs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.devtools import cloudbuild_v1

from tests.support.cloudbuild_emulator import CloudBuildEmulator
from tests.support.gcs_emulator import GcsEmulator


@pytest.fixture
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator() as emulator:
        yield emulator


def storage_client(gcs: GcsEmulator) -> Any:
    options = {"api_endpoint": gcs.endpoint}
    return storage.Client(project="p", credentials=AnonymousCredentials(), client_options=options)


def test_buckets_are_created_once_and_objects_only_if_absent(gcs: GcsEmulator) -> None:
    client = storage_client(gcs)
    with pytest.raises(exceptions.NotFound):
        client.get_bucket("p_cloudbuild", retry=None)
    bucket = client.create_bucket("p_cloudbuild", retry=None)
    with pytest.raises(exceptions.Conflict):
        client.create_bucket("p_cloudbuild", retry=None)
    blob = bucket.blob("dir/a b.tar.gz")
    assert not blob.exists(retry=None)
    blob.upload_from_string(b"\x1f\x8b binary", content_type="application/gzip", if_generation_match=0, retry=None)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(b"other", if_generation_match=0, retry=None)
    assert blob.exists(retry=None) and gcs.read("p_cloudbuild", "dir/a b.tar.gz") == b"\x1f\x8b binary"
    assert [found.name for found in client.list_buckets()] == ["p_cloudbuild"]


def test_an_upload_over_a_generation_holds_only_while_that_generation_is_live(gcs: GcsEmulator) -> None:
    """`ifGenerationMatch=N`: written only when N is the live generation (0: when there is none), else 412."""
    blob = storage_client(gcs).bucket("b").blob("o")
    gcs.create_bucket("b")
    gcs.put("b", "o", b"first", "text/plain")
    first = gcs.generation("b", "o")
    assert first is not None
    gcs.put("b", "o", b"second", "text/plain")
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(b"over the first", if_generation_match=first, retry=None)
    assert gcs.read("b", "o") == b"second"
    blob.upload_from_string(b"over the second", if_generation_match=gcs.generation("b", "o"), retry=None)
    assert gcs.read("b", "o") == b"over the second"
    big = b"x" * (9 * 1024 * 1024)  # past the multipart limit: a resumable session, checked when it completes
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(big, if_generation_match=first, retry=None)
    blob.upload_from_string(big, if_generation_match=gcs.generation("b", "o"), retry=None)
    assert gcs.read("b", "o") == big and not gcs.sessions


def test_a_growing_object_is_read_from_an_offset(gcs: GcsEmulator) -> None:
    def blob() -> Any:  # a new handle each read: a used one is pinned to the generation it read
        return storage_client(gcs).bucket("logs").blob("log-1.txt")

    with pytest.raises(exceptions.NotFound):
        blob().download_as_bytes(start=0, checksum=None, retry=None)
    gcs.append("logs", "log-1.txt", b"first\nsec")
    assert blob().download_as_bytes(start=0, checksum=None, retry=None) == b"first\nsec"
    gcs.append("logs", "log-1.txt", b"ond\n")
    assert blob().download_as_bytes(start=9, checksum=None, retry=None) == b"ond\n"
    with pytest.raises(exceptions.RequestRangeNotSatisfiable):
        blob().download_as_bytes(start=13, checksum=None, retry=None)


def test_builds_are_created_read_and_cancelled_by_the_real_client(gcs: GcsEmulator) -> None:
    with CloudBuildEmulator(gcs) as emulator:
        emulator.hold_queue = True
        options = {"api_endpoint": emulator.endpoint}
        client = cloudbuild_v1.CloudBuildClient(
            transport="rest", client_options=options, credentials=AnonymousCredentials()
        )
        operation = client.create_build(project_id="p", build=cloudbuild_v1.Build(steps=[]), retry=None)
        queued = operation.metadata.build
        assert queued.status == cloudbuild_v1.Build.Status.QUEUED and queued.log_url.startswith("https://")
        assert queued.logs_bucket.startswith("gs://") and queued.create_time is not None
        assert client.get_build(project_id="p", id=queued.id, retry=None).status.name == "QUEUED"
        cancelled = client.cancel_build(project_id="p", id=queued.id, retry=None)
        assert cancelled.status.name == "CANCELLED" and "finish_time" in cancelled
        with pytest.raises(exceptions.NotFound):
            client.get_build(project_id="p", id="no-such-build", retry=None)
        emulator.fail_next(429)
        with pytest.raises(exceptions.TooManyRequests):
            client.get_build(project_id="p", id=queued.id, retry=None)
