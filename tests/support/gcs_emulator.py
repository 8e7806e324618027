"""A Cloud Storage JSON API emulator for tests: buckets and objects in memory, driven by the real storage client.

Served on 127.0.0.1 (port 0); point `storage.Client(client_options={"api_endpoint": emulator.endpoint},
credentials=AnonymousCredentials())` at it. The Cloud Build emulator reads sources and appends build logs here.

Shapes copied, one line each, with their source:
- bucket resource (kind, id, name, projectNumber, location, storageClass, timeCreated, metageneration, etag):
  https://cloud.google.com/storage/docs/json_api/v1/buckets#resource
- `GET /storage/v1/b/BUCKET`, `POST /storage/v1/b?project=P` (409 when taken), `GET /storage/v1/b?project=P`:
  https://cloud.google.com/storage/docs/json_api/v1/buckets/get, /insert, /list
- bucket names are one global namespace; a bucket belongs to the project it was created in (`projectNumber`), and
  `buckets.list?project=P` (with `prefix`) lists only P's: https://cloud.google.com/storage/docs/buckets#naming
  ("Bucket names reside in a single namespace") and the buckets/list reference (project, prefix)
- `location` of the insert body, kept upper-case (default US): https://cloud.google.com/storage/docs/locations and
  the bucket resource (location: "Object data for objects in the bucket resides in physical storage within this
  region... Defaults to US")
- object resource (name, bucket, generation and size as strings, contentType, timeCreated, updated):
  https://cloud.google.com/storage/docs/json_api/v1/objects#resource
- `GET /storage/v1/b/BUCKET/o/OBJECT` (metadata; `blob.exists()` asks with `fields=name`):
  https://cloud.google.com/storage/docs/json_api/v1/objects/get
- `POST /upload/storage/v1/b/BUCKET/o?uploadType=multipart` (multipart/related: JSON metadata, then the media) and
  `ifGenerationMatch=N` answering 412 unless N is the live generation (0: unless there is no object):
  https://cloud.google.com/storage/docs/uploading-objects#uploading-an-object (multipart upload) and
  https://cloud.google.com/storage/docs/request-preconditions
- media download `GET /download/storage/v1/b/BUCKET/o/OBJECT?alt=media` with `Range: bytes=N-` → 206 with
  Content-Range, 416 past the end: google-cloud-storage `blob.py` (_DOWNLOAD_URL_TEMPLATE) and
  https://cloud.google.com/storage/docs/json_api/v1/objects/get (alt=media), RFC 9110 §14 for Range.
- `generation=N` on a metadata or media read names one generation; without object versioning a replaced generation
  is gone, so asking for it answers 404: https://cloud.google.com/storage/docs/json_api/v1/objects/get (generation)
  and https://cloud.google.com/storage/docs/object-versioning ("noncurrent versions" exist only with versioning on)
- a media download answers `X-Goog-Generation`, `X-Goog-Metageneration` and `X-Goog-Hash: crc32c=…,md5=…`:
  https://cloud.google.com/storage/docs/xml-api/reference-headers (x-goog-generation, x-goog-hash), read back by
  google-cloud-storage's blob.py `_extract_headers_from_download`, which keeps the generation for later reads
- object resource `md5Hash` and `crc32c`, base64 of the big-endian digest:
  https://cloud.google.com/storage/docs/json_api/v1/objects#resource and
  https://cloud.google.com/storage/docs/hashes-etags
- error body `{"error": {"code", "message", "errors": [{"reason", "message", "domain": "global"}]}}`:
  https://cloud.google.com/storage/docs/json_api/v1/status-codes
- resumable uploads (the client's choice above 8 MiB, `_MAX_MULTIPART_SIZE` in google-cloud-storage's blob.py):
  `POST /upload/storage/v1/b/BUCKET/o?uploadType=resumable` with the metadata answers the session URI in
  `Location`; each `PUT` to it carries `Content-Range: bytes A-B/TOTAL` and is answered 308 with `Range: bytes=0-N`
  until the last, which answers the object: https://cloud.google.com/storage/docs/performing-resumable-uploads
  and https://cloud.google.com/storage/docs/json_api/v1/how-tos/resumable-upload
- a resumable upload's `ifGenerationMatch` is checked when the last chunk arrives (a session opened over one
  generation fails if another writer replaced it meanwhile): googleapis/google-cloud-java#201, where the session
  was opened and the data requests failed the precondition
Assumed: no ACLs, no IAM; versioning is always off; a session lives until it completes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.http_emulator import JSON_UTF8, HttpEmulator, JsonHandler

PROJECT_NUMBER = "123456789012"  # assumed: any fixed number serves
PROJECT = "proj"  # the project the tests build in; other projects get other numbers
_REASONS = {
    400: "invalid",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    412: "conditionNotMet",
    416: "requestedRangeNotSatisfiable",
    429: "rateLimitExceeded",
    503: "backendError",
}


@dataclass
class StoredObject:
    data: bytes
    generation: int
    content_type: str
    created: str
    updated: str


class GcsError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class UploadSession:
    """A resumable upload under way: where it goes, the preconditions it was opened with, the bytes so far."""

    name: str
    content_type: str
    query: dict[str, str]
    data: bytes = b""


class GcsEmulator(HttpEmulator):
    """Buckets of objects, the requests seen (for counting), and fault switches."""

    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, StoredObject]] = {}
        self.bucket_created: dict[str, str] = {}
        self.bucket_owner: dict[str, str] = {}  # bucket -> project number
        self.bucket_location: dict[str, str] = {}
        self.project_numbers: dict[str, str] = {PROJECT: PROJECT_NUMBER}
        self.requests: list[tuple[str, str]] = []
        self._faults: list[tuple[int, Callable[[str, str], bool]]] = []
        self.lock = threading.RLock()
        self._generation = 1_700_000_000_000_000
        self.sessions: dict[str, UploadSession] = {}  # resumable uploads under way, by upload id
        self._listen(_handler_for(self), "gcs-emulator")

    # --- what tests and the Cloud Build emulator use --------------------------------------------

    def fail_next(self, status: int, count: int = 1, *, when: Callable[[str, str], bool] | None = None) -> None:
        with self.lock:
            self._faults.extend([(status, when or (lambda method, path: True))] * count)

    def uploads(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST" and path.startswith("/upload/"))

    def create_bucket(self, name: str, *, project: str = PROJECT, location: str = "US") -> None:
        with self.lock:
            if name not in self.buckets:
                self.buckets[name] = {}
                self.bucket_created[name] = _now()
                self.bucket_owner[name] = self.number_of(project)
                self.bucket_location[name] = location.upper()

    def number_of(self, project: str) -> str:
        with self.lock:
            return self.project_numbers.setdefault(project, str(900000000000 + len(self.project_numbers)))

    def read(self, bucket: str, name: str, generation: str | None = None) -> bytes | None:
        """The live object's bytes; None when missing, or when `generation` is given and is not the live one."""
        with self.lock:
            found = self.buckets.get(bucket, {}).get(name)
            if found is None or (generation and generation != str(found.generation)):
                return None
            return found.data

    def generation(self, bucket: str, name: str) -> int | None:
        with self.lock:
            found = self.buckets.get(bucket, {}).get(name)
            return found.generation if found else None

    def append(self, bucket: str, name: str, data: bytes) -> None:
        """Add to an object (creating bucket and object): how the builder's log grows while the build runs."""
        with self.lock:
            self.create_bucket(bucket)
            found = self.buckets[bucket].get(name)
            self.put(bucket, name, (found.data if found else b"") + data, "text/plain; charset=utf-8")

    def put(self, bucket: str, name: str, data: bytes, content_type: str) -> StoredObject:
        with self.lock:
            self._generation += 1
            now = _now()
            previous = self.buckets[bucket].get(name)
            stored = StoredObject(data, self._generation, content_type, previous.created if previous else now, now)
            self.buckets[bucket][name] = stored
            return stored

    # --- request handling ------------------------------------------------------------------------

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path, query = parts.path, {key: values[0] for key, values in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((method, path))
            fault = next((item for item in self._faults if item[1](method, path)), None)
            if fault is not None:
                self._faults.remove(fault)
        try:
            if fault is not None:
                raise GcsError(fault[0], "The service is currently unavailable." if fault[0] == 503 else "Rate limit.")
            return self._route(method, path, query, headers, body)
        except GcsError as err:
            return err.status, {}, _json(_error_body(err.status, err.message))

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        generation = query.get("generation")
        if match := re.fullmatch(r"/download/storage/v1/b/([^/]+)/o/(.+)", path):
            return self._media(unquote(match[1]), unquote(match[2]), headers.get("range", ""), generation)
        if match := re.fullmatch(r"/upload/storage/v1/b/([^/]+)/o", path):
            if method == "PUT":
                return self._resume(unquote(match[1]), query, headers, body)
            if query.get("uploadType") == "resumable":
                return 200, {"Location": self._open_session(unquote(match[1]), query, headers, body)}, b""
            return 200, {}, _json(self._upload(unquote(match[1]), query, headers, body))
        if match := re.fullmatch(r"/storage/v1/b/([^/]+)/o/(.+)", path):
            if query.get("alt") == "media":
                return self._media(unquote(match[1]), unquote(match[2]), headers.get("range", ""), generation)
            return 200, {}, _json(self._object(unquote(match[1]), unquote(match[2]), generation))
        if match := re.fullmatch(r"/storage/v1/b/([^/]+)", path):
            return 200, {}, _json(self._bucket(unquote(match[1])))
        if path == "/storage/v1/b" and method == "POST":
            return 200, {}, _json(self._insert_bucket(json.loads(body or b"{}"), query.get("project", PROJECT)))
        if path == "/storage/v1/b" and method == "GET":
            return 200, {}, _json(self._list_buckets(query.get("project", ""), query.get("prefix", "")))
        raise GcsError(404, f"Not Found: {method} {path} is not part of this emulator")

    def _bucket(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name not in self.buckets:
                raise GcsError(404, "The specified bucket does not exist.")
            created = self.bucket_created[name]
        return {
            "kind": "storage#bucket",
            "id": name,
            "name": name,
            "projectNumber": self.bucket_owner[name],
            "location": self.bucket_location[name],
            "storageClass": "STANDARD",
            "timeCreated": created,
            "updated": created,
            "metageneration": "1",
            "etag": "CAE=",
        }

    def _insert_bucket(self, body: dict[str, Any], project: str) -> dict[str, Any]:
        name = str(body.get("name") or "")
        with self.lock:
            if name in self.buckets:
                raise GcsError(
                    409, "Your previous request to create the named bucket succeeded and you already own it."
                )
            self.create_bucket(name, project=project, location=str(body.get("location") or "US"))
        return self._bucket(name)

    def _list_buckets(self, project: str, prefix: str) -> dict[str, Any]:
        if not project:
            raise GcsError(400, "Required parameter: project")
        number = self.number_of(project)
        with self.lock:
            names = [name for name, owner in self.bucket_owner.items() if owner == number and name.startswith(prefix)]
        return {"kind": "storage#buckets", "items": [self._bucket(name) for name in sorted(names)]}

    def _stored(self, bucket: str, name: str, generation: str | None = None) -> StoredObject:
        """The live object; a generation other than the live one is gone (no versioning here): 404."""
        self._bucket(bucket)
        with self.lock:
            found = self.buckets[bucket].get(name)
        if found is None or (generation is not None and generation != str(found.generation)):
            where = f"{bucket}/{name}" + (f"#{generation}" if generation is not None else "")
            raise GcsError(404, f"No such object: {where}")
        return found

    def _object(self, bucket: str, name: str, generation: str | None = None) -> dict[str, Any]:
        return _object_resource(bucket, name, self._stored(bucket, name, generation))

    def _media(
        self, bucket: str, name: str, range_header: str, generation: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        stored = self._stored(bucket, name, generation)
        data = stored.data
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Goog-Generation": str(stored.generation),
            "X-Goog-Metageneration": "1",
            "X-Goog-Hash": f"crc32c={crc32c_of(data)},md5={md5_of(data)}",
        }
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header.strip())
        if not match:
            return 200, headers, data
        start = int(match[1])
        end = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
        if start >= len(data):
            raise GcsError(416, "Request range not satisfiable")
        return 206, {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}, data[start : end + 1]

    def _upload(self, bucket: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> dict[str, Any]:
        if query.get("uploadType") != "multipart":
            raise GcsError(400, "this emulator takes uploadType=multipart or resumable only")
        metadata, media, content_type = _multipart(headers.get("content-type", ""), body)
        name = str(metadata.get("name") or query.get("name") or "")
        return self._write(bucket, name, media, str(metadata.get("contentType") or content_type), query)

    def _write(self, bucket: str, name: str, media: bytes, content_type: str, query: dict[str, str]) -> dict[str, Any]:
        """Store the object unless `ifGenerationMatch` names another generation than the live one (0: none)."""
        self._bucket(bucket)
        with self.lock:
            wanted = query.get("ifGenerationMatch")
            live = self.buckets[bucket].get(name)
            if wanted is not None and wanted != str(live.generation if live else 0):
                raise GcsError(412, "At least one of the pre-conditions you specified did not hold.")
            stored = self.put(bucket, name, media, content_type)
        return _object_resource(bucket, name, stored)

    def _open_session(self, bucket: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> str:
        """A resumable session: its URI carries the upload id; the object's name, type and preconditions wait in it."""
        self._bucket(bucket)
        metadata = json.loads(body or b"{}")
        name = str(metadata.get("name") or query.get("name") or "")
        content_type = str(metadata.get("contentType") or headers.get("x-upload-content-type") or "")
        upload_id = uuid.uuid4().hex
        with self.lock:
            self.sessions[upload_id] = UploadSession(name, content_type, dict(query))
        return f"http://{headers['host']}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"

    def _resume(
        self, bucket: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One chunk, `Content-Range: bytes A-B/TOTAL` (`*` while the total is unknown): 308 with the Range held so
        far until the last byte, then the object, written only if its preconditions still hold."""
        with self.lock:
            session = self.sessions.get(query.get("upload_id", ""))
        if session is None:
            raise GcsError(404, "No such upload session.")
        match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", headers.get("content-range", ""))
        if match is None:
            raise GcsError(400, "a resumable upload chunk needs Content-Range: bytes A-B/TOTAL")
        if match[1] is not None and int(match[1]) != len(session.data):
            raise GcsError(400, f"the chunk starts at {match[1]}, the session holds {len(session.data)} bytes")
        session.data += body
        if match[3] == "*" or len(session.data) < int(match[3]):
            held = {"Range": f"bytes=0-{len(session.data) - 1}"} if session.data else {}
            return 308, held, b""
        with self.lock:
            del self.sessions[query["upload_id"]]
        resource = self._write(bucket, session.name, session.data, session.content_type, session.query)
        return 200, {}, _json(resource)


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes, str]:
    """The two parts of a multipart/related upload: JSON metadata, then the media with its own content type."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise GcsError(400, "multipart upload without a boundary")
    delimiter = b"--" + match[1].encode()
    parts = [part for part in body.split(delimiter)[1:] if not part.startswith(b"--")]
    if len(parts) != 2:
        raise GcsError(400, "a multipart upload has two parts: metadata and media")
    sections = []
    for part in parts:
        head, _, content = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        sections.append((head.decode("latin-1").lower(), content.removesuffix(b"\r\n")))
    media_type = re.search(r"content-type:\s*([^\r\n]+)", sections[1][0])
    return json.loads(sections[0][1] or b"{}"), sections[1][1], media_type[1] if media_type else ""


def _object_resource(bucket: str, name: str, stored: StoredObject) -> dict[str, Any]:
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{stored.generation}",
        "name": name,
        "bucket": bucket,
        "generation": str(stored.generation),
        "metageneration": "1",
        "contentType": stored.content_type,
        "size": str(len(stored.data)),
        "md5Hash": md5_of(stored.data),
        "crc32c": crc32c_of(stored.data),
        "timeCreated": stored.created,
        "updated": stored.updated,
        "storageClass": "STANDARD",
    }


def md5_of(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32c_of(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def _error_body(status: int, message: str) -> dict[str, Any]:
    reason = _REASONS.get(status, "unknown")
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _handler_for(emulator: GcsEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            body = self.read_body()
            status, extra, payload = emulator.answer(self.command, self.path, self.lower_headers(), body)
            self.send(status, payload, {"Content-Type": extra.pop("Content-Type", JSON_UTF8), **extra})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return Handler
