"""The build context as Cloud Build receives it: a reproducible .tar.gz in the source bucket, named by input digest."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopctl.config import BuildConfig
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
    """Make sure the bucket exists and holds this context; upload only when the object is missing."""
    assert build.cloudbuild is not None
    bucket = _bucket(api, build.cloudbuild.source_bucket)
    name = source_name(input_digest)
    blob = bucket.blob(name)
    if api.call("Cloud Storage", "look up the source", lambda: blob.exists(retry=None)):
        api.log(f"source unchanged: gs://{bucket.name}/{name} is already uploaded")
        return Source(bucket.name, name, 0, uploaded=False)
    payload = context_tarball(context, build, own=own)
    api.log(f"uploading the context ({len(payload) / 1024:.0f} KiB) to gs://{bucket.name}/{name}")
    _upload(api, blob, payload)
    return Source(bucket.name, name, len(payload), uploaded=True)


def _upload(api: CloudBuildApi, blob: Any, payload: bytes) -> None:
    from google.api_core.exceptions import PreconditionFailed

    def send() -> None:
        # Generation 0: create only; a parallel run that uploaded the same inputs first is fine.
        blob.upload_from_string(payload, content_type="application/gzip", if_generation_match=0, retry=None)

    try:
        api.call("Cloud Storage", "upload the source", send)
    except LoopctlError as err:
        if not isinstance(err.__cause__, PreconditionFailed):
            raise


def _bucket(api: CloudBuildApi, name: str) -> Any:
    from google.api_core.exceptions import NotFound

    storage = api.storage
    try:
        return api.call("Cloud Storage", f"get bucket {name}", lambda: storage.get_bucket(name, retry=None))
    except LoopctlError as err:
        if not isinstance(err.__cause__, NotFound):
            raise
    api.log(f"creating bucket gs://{name} (the source bucket, as gcloud does)")
    try:
        return api.call("Cloud Storage", f"create bucket {name}", lambda: storage.create_bucket(name, retry=None))
    except LoopctlError as err:
        raise LoopctlError(
            f"{err.message}",
            hint=f"create it yourself (`gcloud storage buckets create gs://{name}`) or set "
            "build.cloudbuild.bucket to one you can write to",
            kind=err.kind,
        ) from err
