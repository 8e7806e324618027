"""The build context as Cloud Build receives it: a reproducible .tar.gz in the source bucket, named by input digest."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from loopctl.config import BuildConfig, CloudBuildConfig
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.outside_text import one_line
from loopctl.phases.cloudbuild.api import CloudBuildApi
from loopctl.phases.inputs import context_rules

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
        for relative in context_rules(context, build.dockerfile, own).files():
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
    """Make sure the bucket is the project's and holds this context; upload unless an object of that name already
    holds exactly these bytes (its md5 checked: anyone who can write to the bucket could have put other bytes
    there). The generation returned is the one to build: a later replacement of the object is never built."""
    assert build.cloudbuild is not None
    bucket = _bucket(api, build.cloudbuild)
    name = source_name(input_digest)
    with tempfile.TemporaryFile(prefix="loopctl-source-") as spool:
        packed = pack_context(context, build, spool, own=own)
        _say_left_out(api, packed)
        sums = _checksums(spool)
        existing = _existing(api, bucket, name)
        if existing is not None and _holds(existing, sums):
            api.log(f"source unchanged: gs://{bucket.name}/{name} is already uploaded (checksum verified)")
            return Source(bucket.name, name, packed.size, uploaded=False, generation=int(existing.generation))
        if existing is not None:
            api.log(f"gs://{bucket.name}/{name} does not hold this context (its checksum differs): uploading it again")
        api.log(f"uploading the context ({packed.size / 1024:.0f} KiB) to gs://{bucket.name}/{name}")
        replacing = int(existing.generation) if existing else 0
        generation = _upload(api, bucket, name, Spooled(spool, packed.size, sums), replacing=replacing)
    return Source(bucket.name, name, packed.size, uploaded=True, generation=generation)


def _say_left_out(api: CloudBuildApi, packed: Packed) -> None:
    if packed.left_out:
        shown = ", ".join(one_line(entry, 120) for entry in packed.left_out[:5])
        more = f" and {len(packed.left_out) - 5} more" if len(packed.left_out) > 5 else ""
        api.log(f"left out of the source {len(packed.left_out)} socket(s), FIFO(s) or device(s): {shown}{more}")


@dataclass(frozen=True)
class Checksums:
    """The tarball's md5 and crc32c, base64 as Cloud Storage reports them (`md5Hash`, `crc32c`)."""

    md5: str
    crc32c: str


@dataclass(frozen=True)
class Spooled:
    """The packed tarball in its temporary file, with its size and checksums."""

    file: BinaryIO
    size: int
    sums: Checksums


def _checksums(spool: BinaryIO) -> Checksums:
    """Read the spooled tarball once, in pieces: memory stays at one piece whatever the context weighs."""
    import google_crc32c

    md5, crc = hashlib.md5(), google_crc32c.Checksum()  # type: ignore[no-untyped-call]
    spool.seek(0)
    while piece := spool.read(1 << 20):
        md5.update(piece)
        crc.update(piece)  # type: ignore[no-untyped-call]
    return Checksums(base64.b64encode(md5.digest()).decode(), base64.b64encode(crc.digest()).decode())  # type: ignore[no-untyped-call]


def _existing(api: CloudBuildApi, bucket: Any, name: str) -> Any:
    """The object's metadata (generation, md5Hash, crc32c), or None when there is none."""
    return api.call("Cloud Storage", "look up the source", lambda: bucket.get_blob(name, retry=None), read=True)


def _holds(blob: Any, sums: Checksums) -> bool:
    """md5 when the object has one (single uploads do), else crc32c (composite objects carry only that)."""
    if blob.md5_hash:
        return bool(blob.md5_hash == sums.md5)
    if blob.crc32c:
        return bool(blob.crc32c == sums.crc32c)
    return False


def _upload(api: CloudBuildApi, bucket: Any, name: str, payload: Spooled, *, replacing: int) -> int:
    """Upload only over the generation looked at (0: only where nothing is); a parallel run that uploaded the same
    inputs first is fine when its object holds these bytes."""
    from google.api_core.exceptions import PreconditionFailed

    blob = bucket.blob(name)

    def send() -> None:
        payload.file.seek(0)  # a retried call sends it again from the start
        blob.upload_from_file(
            payload.file,
            size=payload.size,
            content_type="application/gzip",
            if_generation_match=replacing,
            retry=None,
        )

    try:
        api.call("Cloud Storage", "upload the source", send)
    except LoopctlError as err:
        if not isinstance(err.__cause__, PreconditionFailed):
            raise
        raced = _existing(api, bucket, name)
        if raced is None or not _holds(raced, payload.sums):
            raise LoopctlError(
                f"gs://{bucket.name}/{name} changed while loopctl uploaded it",
                hint="another writer uses this object: run again, or set build.cloudbuild.bucket to a bucket of yours",
                kind=ErrorKind.SOURCE_CHANGED,
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
            if config.bucket is None and err.kind == ErrorKind.PERMISSION_DENIED:
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
            kind=ErrorKind.BUCKET_NOT_OWNED,
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
