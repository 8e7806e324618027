"""The build context as Cloud Build receives it: a reproducible .tar.gz in the source bucket, named by input digest."""

from __future__ import annotations

import gzip
import os
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from loopctl.config import BuildConfig
from loopctl.errors import LoopctlError
from loopctl.outside import one_line
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


@dataclass(frozen=True)
class Packed:
    """What went into a source tarball: its size, and the entries a build cannot use that were left out."""

    size: int
    left_out: tuple[str, ...] = ()


def pack_context(context: Path, build: BuildConfig, sink: BinaryIO, *, own: Sequence[str] = ()) -> Packed:
    """Stream into `sink` a .tar.gz of the files the engine would receive (.dockerignore honoured, loopctl's own
    folders `own` left out, as the input digest leaves them out), with fixed owners and times: same inputs, same
    bytes. Memory stays at a copy buffer, whatever the files weigh.

    As docker's client packs a context: a second name of a hard-linked file is a link to the first, and sockets
    are left out; so are FIFOs and devices, which no build step can copy (a FIFO would stall the reader).
    """
    left_out: list[str] = []
    start = sink.tell()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for relative in without_own_files(context_files(context, build.dockerfile), own):
            name = relative.replace(os.sep, "/")
            if not _add(archive, context / relative, name):
                left_out.append(name)
    return Packed(sink.tell() - start, tuple(left_out))


def _add(archive: tarfile.TarFile, path: Path, name: str) -> bool:
    """Add one entry; False when it is not something a build can use (a socket, a FIFO, a device)."""
    try:
        member = archive.gettarinfo(str(path), arcname=name)  # None for a socket
    except FileNotFoundError:
        return True  # vanished between listing and reading: not an input any more
    if member is None or not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return False
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    member.mtime = 0
    if member.isfile():
        with path.open("rb") as stream:
            archive.addfile(member, stream)
    else:
        archive.addfile(member)
    return True


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
    with tempfile.TemporaryFile(prefix="loopctl-source-") as spool:
        packed = pack_context(context, build, spool, own=own)
        if packed.left_out:
            shown = ", ".join(one_line(entry, 120) for entry in packed.left_out[:5])
            more = f" and {len(packed.left_out) - 5} more" if len(packed.left_out) > 5 else ""
            api.log(f"left out of the source {len(packed.left_out)} socket(s), FIFO(s) or device(s): {shown}{more}")
        api.log(f"uploading the context ({packed.size / 1024:.0f} KiB) to gs://{bucket.name}/{name}")
        spool.seek(0)
        _upload(api, blob, spool, packed.size)
    return Source(bucket.name, name, packed.size, uploaded=True)


def _upload(api: CloudBuildApi, blob: Any, payload: BinaryIO, size: int) -> None:
    from google.api_core.exceptions import PreconditionFailed

    def send() -> None:
        # Generation 0: create only; a parallel run that uploaded the same inputs first is fine.
        payload.seek(0)  # a retried call sends it again from the start
        blob.upload_from_file(payload, size=size, content_type="application/gzip", if_generation_match=0, retry=None)

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
