"""The build context as Cloud Build receives it: a reproducible .tar.gz in the source bucket, named by input digest."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopctl.config import BuildConfig, CloudBuildConfig
from loopctl.errors import LoopctlError
from loopctl.phases.cloudbuild.api import CloudBuildApi
from loopctl.phases.inputs import context_files, without_own_files

SOURCE_PREFIX = "loopctl-source/"


@dataclass(frozen=True)
class Source:
    bucket: str
    name: str
    size: int
    uploaded: bool
    generation: int = 0  # the object generation to build (StorageSource.generation)

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


def source_name(input_digest: str) -> str:
    """Same inputs, same object: an unchanged context is never uploaded twice."""
    return f"{SOURCE_PREFIX}{input_digest.removeprefix('sha256:')}.tar.gz"


def context_tarball(context: Path, build: BuildConfig, *, own: Sequence[str] = ()) -> bytes:
    """The files the engine would receive (.dockerignore honoured, loopctl's own folders `own` left out, as the
    input digest leaves them out), fixed owners and times: same inputs, same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for relative in without_own_files(context_files(context, build.dockerfile), own):
            path = context / relative
            try:
                member = archive.gettarinfo(str(path), arcname=relative.replace(os.sep, "/"))
            except FileNotFoundError:
                continue  # vanished between listing and reading: not an input any more
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            member.mtime = 0
            if member.isfile():
                with path.open("rb") as stream:
                    archive.addfile(member, stream)
            elif member.isdir() or member.issym():
                archive.addfile(member)
    return gzip.compress(raw.getvalue(), mtime=0)


def upload_source(
    api: CloudBuildApi, context: Path, build: BuildConfig, input_digest: str, *, own: Sequence[str] = ()
) -> Source:
    """Make sure the bucket is the project's and holds this context; upload unless an object of that name already
    holds exactly these bytes (its md5 checked: anyone who can write to the bucket could have put other bytes
    there). The generation returned is the one to build: a later replacement of the object is never built."""
    assert build.cloudbuild is not None
    bucket = _bucket(api, build.cloudbuild)
    name = source_name(input_digest)
    payload = context_tarball(context, build, own=own)
    existing = _existing(api, bucket, name)
    if existing is not None and _holds(existing, payload):
        api.log(f"source unchanged: gs://{bucket.name}/{name} is already uploaded (checksum verified)")
        return Source(bucket.name, name, len(payload), uploaded=False, generation=int(existing.generation))
    if existing is not None:
        api.log(f"gs://{bucket.name}/{name} does not hold this context (its checksum differs): uploading it again")
    api.log(f"uploading the context ({len(payload) / 1024:.0f} KiB) to gs://{bucket.name}/{name}")
    generation = _upload(api, bucket, name, payload, replacing=int(existing.generation) if existing else 0)
    return Source(bucket.name, name, len(payload), uploaded=True, generation=generation)


def _existing(api: CloudBuildApi, bucket: Any, name: str) -> Any:
    """The object's metadata (generation, md5Hash, crc32c), or None when there is none."""
    return api.call("Cloud Storage", "look up the source", lambda: bucket.get_blob(name, retry=None), read=True)


def _holds(blob: Any, payload: bytes) -> bool:
    """md5 when the object has one (single uploads do), else crc32c (composite objects carry only that)."""
    if blob.md5_hash:
        return bool(blob.md5_hash == base64.b64encode(hashlib.md5(payload).digest()).decode())
    if blob.crc32c:
        import google_crc32c

        return bool(blob.crc32c == base64.b64encode(google_crc32c.value(payload).to_bytes(4, "big")).decode())
    return False


def _upload(api: CloudBuildApi, bucket: Any, name: str, payload: bytes, *, replacing: int) -> int:
    """Upload only over the generation looked at (0: only where nothing is); a parallel run that uploaded the same
    inputs first is fine when its object holds these bytes."""
    from google.api_core.exceptions import PreconditionFailed

    blob = bucket.blob(name)

    def send() -> None:
        blob.upload_from_string(payload, content_type="application/gzip", if_generation_match=replacing, retry=None)

    try:
        api.call("Cloud Storage", "upload the source", send)
    except LoopctlError as err:
        if not isinstance(err.__cause__, PreconditionFailed):
            raise
        raced = _existing(api, bucket, name)
        if raced is None or not _holds(raced, payload):
            raise LoopctlError(
                f"gs://{bucket.name}/{name} changed while loopctl uploaded it",
                hint="another writer uses this object: run again, or set build.cloudbuild.bucket to a bucket of yours",
                kind="source_changed",
            ) from err
        return int(raced.generation)
    return int(blob.generation)


def _bucket(api: CloudBuildApi, config: CloudBuildConfig) -> Any:
    from google.api_core.exceptions import NotFound

    name = config.source_bucket
    storage = api.storage
    try:
        found = api.call("Cloud Storage", f"get bucket {name}", lambda: storage.get_bucket(name, retry=None), read=True)
    except LoopctlError as err:
        if not isinstance(err.__cause__, NotFound):
            if config.bucket is None and err.kind == "permission_denied":
                check_owner(api, config, name)  # a bucket we may not read: often someone else's
            raise
    else:
        if config.bucket is None:
            check_owner(api, config, name)
        return found
    return _create_bucket(api, config, name)


def check_owner(api: CloudBuildApi, config: CloudBuildConfig, name: str) -> None:
    """Bucket names are global: `PROJECT_cloudbuild` may be anyone's. It is the project's when the project's own
    bucket list holds it (how `gcloud builds submit` checks its default bucket). A list loopctl may not read is
    said and skipped: the checksum check and the pinned generation still hold the build to loopctl's bytes."""
    from google.api_core.exceptions import Forbidden

    storage = api.storage
    try:
        owned = api.call(
            "Cloud Storage",
            f"list the buckets of project {config.project}",
            lambda: [found.name for found in storage.list_buckets(project=config.project, prefix=name, retry=None)],
            read=True,
        )
    except LoopctlError as err:
        if not isinstance(err.__cause__, Forbidden):
            raise
        api.log(f"cannot check that gs://{name} belongs to project {config.project} (no storage.buckets.list)")
        return
    if name not in owned:
        raise LoopctlError(
            f"gs://{name} belongs to another project, not {config.project}: bucket names are global, and loopctl "
            "will not upload the source to someone else's bucket",
            hint="set build.cloudbuild.bucket to a bucket of your project",
            kind="bucket_not_owned",
        )


def _create_bucket(api: CloudBuildApi, config: CloudBuildConfig, name: str) -> Any:
    storage = api.storage
    # In the build's region when it has one (as gcloud does for a regional build); US multi-region otherwise.
    location = None if config.region == "global" else config.region
    where = f" in {location}" if location else ""
    api.log(f"creating bucket gs://{name}{where} (the source bucket, as gcloud does)")
    try:
        return api.call(
            "Cloud Storage",
            f"create bucket {name}",
            lambda: storage.create_bucket(name, project=config.project, location=location, retry=None),
        )
    except LoopctlError as err:
        raise LoopctlError(
            f"{err.message}",
            hint=f"create it yourself (`gcloud storage buckets create gs://{name}`) or set "
            "build.cloudbuild.bucket to one you can write to",
            kind=err.kind,
        ) from err
