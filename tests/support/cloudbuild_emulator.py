"""A Cloud Build v1 REST API emulator for tests: builds really run on the local Docker Engine and push to a registry.

Served on 127.0.0.1 (port 0); point `cloudbuild_v1.CloudBuildClient(transport="rest",
client_options={"api_endpoint": emulator.endpoint}, credentials=AnonymousCredentials())` at it. Sources are read
from, and logs written to, a `GcsEmulator` (tests/support/gcs_emulator.py); `cloudbuild_worker.py` runs the steps.

Shapes copied, one line each, with their source:
- `POST /v1/projects/P/builds` and `POST /v1/{parent=projects/*/locations/*}/builds` → a google.longrunning.Operation
  whose metadata is BuildOperationMetadata{build}: https://cloud.google.com/build/docs/api/reference/rest/v1/projects.builds/create
  and the client's http rules (cloudbuild_v1 transports/rest_base.py, _BaseCreateBuild)
- `GET /v1/projects/P/builds/ID` and `GET /v1/{name=projects/*/locations/*/builds/*}`:
  https://cloud.google.com/build/docs/api/reference/rest/v1/projects.builds/get
- `GET /v1/projects/P/builds` (and per location) → {builds: [...]} (doctor asks for one):
  https://cloud.google.com/build/docs/api/reference/rest/v1/projects.builds/list
- a disabled API answers 403 "Cloud Build API has not been used in project P before or it is disabled. Enable it by
  visiting …": the SERVICE_DISABLED message as quoted in public issues against Google client libraries
- `POST …/builds/ID:cancel` → the Build: https://cloud.google.com/build/docs/api/reference/rest/v1/projects.builds/cancel
- Build fields id, projectId, status, statusDetail, steps[].status/timing, results.images[{name, digest, pushTiming}],
  createTime/startTime/finishTime, timing{BUILD, PUSH, FETCHSOURCE}, logsBucket, logUrl, timeout, queueTtl,
  serviceAccount, failureInfo{type, detail}: https://cloud.google.com/build/docs/api/reference/rest/v1/projects.builds
- status names QUEUED/WORKING/SUCCESS/FAILURE/INTERNAL_ERROR/TIMEOUT/CANCELLED/EXPIRED (EXPIRED: queued longer than
  queueTtl, counted from createTime): the Build.Status reference (cloudbuild_v1 types/cloudbuild.py)
- source.storageSource{bucket, object, generation}; without a generation the latest is built, with one that
  generation (gone once replaced, so the fetch fails): the StorageSource reference (cloudbuild_v1 types)
- failureInfo.type USER_BUILD_STEP / PUSH_NOT_AUTHORIZED / PUSH_FAILED / FETCH_SOURCE_FAILED:
  Build.FailureInfo.FailureType
- statusDetail of a failed step, `Build step failure: build step N "NAME" failed: step exited with non-zero status: 1`:
  as `gcloud builds submit` prints it in public build logs (BUILD FAILURE lines quoted in many public issues)
- the log object `log-ID.txt` in logsBucket (a `gs://bucket/prefix` URI): gcloud's CLOUDBUILD_LOGFILE_FMT_STRING
  (googlecloudsdk api_lib/cloudbuild/logs.py), tailed there with Range requests
- log lines `Step #N - "ID": text`, `Starting Step #N - "ID"`, `Finished Step #N - "ID"`, the FETCHSOURCE, BUILD,
  PUSH and DONE banners: public Cloud Build logs as gcloud streams them
- error body `{"error": {"code", "message", "status"}}`: https://cloud.google.com/apis/design/errors#http_mapping
  (500 INTERNAL, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED: the same table)
- `GET /v1/projects/P/locations/L/defaultServiceAccount` → DefaultServiceAccount{name, serviceAccountEmail
  (`projects/P/serviceAccounts/EMAIL`)}: the v1 reference, projects.locations/getDefaultServiceAccount; since 2024
  a new project's default is the Compute Engine default account `NUMBER-compute@developer.gserviceaccount.com`:
  https://cloud.google.com/build/docs/cloud-build-service-account-updates
- a Build submitted without serviceAccount carries none back (assumed: the reference documents the field as the
  account to run as, not that the default is echoed), so a client reads the default with the call above
- a source the build's account may not read ends FAILURE with failureInfo FETCH_SOURCE_FAILED; the detail text
  ("... does not have storage.objects.get access to the Google Cloud Storage object") is as public build logs show
  AccessDeniedException lines (assumed wording)
Assumed: the logUrl form (the Console page of the build); the TIMEOUT and EXPIRED statusDetail texts; the default
service account `PROJECT_NUMBER@cloudbuild.gserviceaccount.com` (the legacy Cloud Build account); the operation name
`operations/build/P/ID`; only `gcr.io/cloud-builders/docker` steps running `build` or `pull` are understood.
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.gcs_emulator import PROJECT_NUMBER, GcsEmulator
from tests.support.google_errors import status_error
from tests.support.http_emulator import HttpEmulator, JsonHandler

Matcher = Callable[[str, str], bool]
RUNNING = ("QUEUED", "WORKING")
_MESSAGES = {
    429: "Quota exceeded for quota metric 'Build and Operation requests'.",
    503: "The service is currently unavailable.",
}
_DEFAULT_ACCOUNT = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/defaultServiceAccount"
_BUILDS = r"/v1/projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?/builds"


def submissions(method: str, path: str) -> bool:
    """`projects.builds.create`."""
    return method == "POST" and path.endswith("/builds")


def polls(method: str, path: str) -> bool:
    """`projects.builds.get`."""
    return method == "GET" and "/builds/" in path


def cancels(method: str, path: str) -> bool:
    return method == "POST" and path.endswith(":cancel")


class CloudBuildEmulator(HttpEmulator):
    """Builds by id, their workers, the requests seen, and the switches tests flip."""

    def __init__(self, storage: GcsEmulator) -> None:
        self.storage = storage
        self.builds: dict[str, dict[str, Any]] = {}
        self.cancelled: dict[str, threading.Event] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self.workers: list[threading.Thread] = []
        self.hold_queue = False  # builds stay QUEUED (until their queueTtl expires them)
        self.hold_work = threading.Event()  # while set, WORKING builds wait before their first step
        self.report_digest: str | None = None  # a digest to report in results.images instead of the pushed one
        self.build_seconds: list[float] = []  # how long each build spent WORKING: the bench's yardstick
        self.tagged: list[str] = []  # image tags builds left on the engine, removed at close()
        # The project's default build account: the legacy Cloud Build account, or (new projects since 2024) Compute's.
        self.default_account = f"{PROJECT_NUMBER}@cloudbuild.gserviceaccount.com"
        self.deny_source_fetch = False  # the build's account lacks storage.objects.get on the source bucket
        self._faults: list[tuple[int, Matcher, str | None]] = []
        self._listen(_handler_for(self), "cloudbuild-emulator")

    def close(self) -> None:
        self.hold_queue = False
        self.hold_work.clear()
        for event in self.cancelled.values():
            event.set()
        for worker in list(self.workers):
            worker.join(timeout=60)
        self.stop_serving()
        self._remove_images()

    def _remove_images(self) -> None:
        """Untag what the builds tagged (layers another image uses stay): the engine is shared with others."""
        import docker.errors

        from tests.support.realparts import docker_client

        api = docker_client().api
        for tag in self.tagged:
            with contextlib.suppress(docker.errors.APIError):
                api.remove_image(tag)

    def fail_next(
        self, status: int, count: int = 1, *, when: Matcher | None = None, message: str | None = None
    ) -> None:
        """The next `count` requests that `when` matches answer `status` (429, 503, 403...)."""
        with self.lock:
            self._faults.extend([(status, when or (lambda method, path: True), message)] * count)

    def disable_api(self, project: str) -> None:
        """Every request answers as Google does for a project that has not enabled the API."""
        message = (
            f"Cloud Build API has not been used in project {project} before or it is disabled. Enable it by visiting "
            f"https://console.developers.google.com/apis/api/cloudbuild.googleapis.com/overview?project={project} "
            "then retry."
        )
        self.fail_next(403, 1000, message=message)

    def count(self, matcher: Matcher) -> int:
        with self.lock:
            return sum(1 for method, path in self.requests if matcher(method, path))

    def build(self, build_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.builds[build_id])

    def update(self, build_id: str, **fields: Any) -> None:
        with self.lock:
            self.builds[build_id].update(fields)

    # --- request handling ------------------------------------------------------------------------

    def answer(self, method: str, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        with self.lock:
            self.requests.append((method, path))
            fault = next((item for item in self._faults if item[1](method, path)), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is not None:
            return fault[0], status_error(fault[0], fault[2] or _MESSAGES.get(fault[0], "error"))
        if method == "POST" and (match := re.fullmatch(_BUILDS, path)):
            location = match["location"] or _location_of(query) or "global"
            return 200, self._create(match["project"], location, body)
        if method == "GET" and (match := re.fullmatch(_DEFAULT_ACCOUNT, path)):
            where = f"projects/{match['project']}/locations/{match['location']}/defaultServiceAccount"
            email = f"projects/{match['project']}/serviceAccounts/{self.default_account}"
            return 200, {"name": where, "serviceAccountEmail": email}
        if method == "GET" and re.fullmatch(_BUILDS, path):
            with self.lock:
                return 200, {"builds": [copy.deepcopy(build) for build in self.builds.values()][:1]}
        if match := re.fullmatch(_BUILDS + r"/(?P<id>[^/:]+)(?P<cancel>:cancel)?", path):
            build_id = match["id"]
            if build_id not in self.builds:
                return 404, status_error(404, f'Build "{build_id}" not found.')
            if match["cancel"] and method == "POST":
                return 200, self._cancel(build_id)
            if method == "GET":
                return 200, self.build(build_id)
        return 404, status_error(404, f"Method {method} {path} is not part of this emulator.")

    def _create(self, project: str, location: str, body: dict[str, Any]) -> dict[str, Any]:
        from tests.support.cloudbuild_worker import BuildWorker

        build_id = str(uuid.uuid4())
        account = body.get("serviceAccount") or ""
        build = {
            **body,
            "id": build_id,
            "name": f"projects/{PROJECT_NUMBER}/locations/{location}/builds/{build_id}",
            "projectId": project,
            "status": "QUEUED",
            "createTime": now(),
            "timeout": body.get("timeout", "600s"),
            "queueTtl": body.get("queueTtl", "3600s"),
            "logsBucket": body.get("logsBucket") or f"gs://{PROJECT_NUMBER}.cloudbuild-logs.googleusercontent.com",
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={location}/{build_id}?project={PROJECT_NUMBER}",
            **({"serviceAccount": account} if account else {}),
            "steps": [{**step, "status": "QUEUED"} for step in body.get("steps", [])],
        }
        with self.lock:
            self.builds[build_id] = build
            self.cancelled[build_id] = threading.Event()
        worker = BuildWorker(self, build_id)
        self.workers.append(worker)
        worker.start()
        metadata = {
            "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
            "build": self.build(build_id),
        }
        return {"name": f"operations/build/{project}/{build_id}", "metadata": metadata}

    def _cancel(self, build_id: str) -> dict[str, Any]:
        with self.lock:
            build = self.builds[build_id]
            self.cancelled[build_id].set()
            if build["status"] in RUNNING:
                build.update(status="CANCELLED", finishTime=now())
                for step in build["steps"]:
                    if step["status"] in RUNNING:
                        step["status"] = "CANCELLED"
        return self.build(build_id)


def _location_of(query: dict[str, list[str]]) -> str | None:
    parent = (query.get("parent") or [""])[0]
    match = re.fullmatch(r"projects/[^/]+/locations/([^/]+)", parent)
    return match[1] if match else None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _handler_for(emulator: CloudBuildEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            try:
                body = self.read_json()
            except ValueError:
                status, answer = 400, status_error(400, "Invalid JSON payload received.")
            else:
                status, answer = emulator.answer(self.command, self.path, body)
            self.send_json(status, answer)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
