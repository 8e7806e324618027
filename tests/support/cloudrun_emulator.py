"""A Cloud Run Admin API v2 emulator for tests: the REST surface the real client uses, revisions run on Docker.

Served on 127.0.0.1 (port 0) from a background thread; point `ServicesClient(transport="rest",
client_options={"api_endpoint": emulator.endpoint})` at it with anonymous credentials.

One container per revision, published on its own 127.0.0.1 port, reached through a front end
(tests/support/cloudrun_frontend.py): a stable one per service (its `uri`) and one per traffic tag, which check
IAM as Cloud Run does: a private service (the default) answers Google's 403 page unless the request carries an ID
token signed by the key the test gave (`id_token_keys`), for one of the service's URLs or custom audiences, whose
email was granted roles/run.invoker (`grant_invoker`). Revisions are numbered per service (`SERVICE-00001-abc`)
unless the client names them; a revision is Ready once its container accepts a TCP connection on $PORT, and fails
with Cloud Run's own condition text when it exits first, does not listen in time, or its image cannot be found.

The shapes it copies, and their sources, are listed in cloudrun_state.py, cloudrun_shapes.py and
cloudrun_frontend.py. Request shapes here:
- services.create takes `serviceId` in the query and answers a long-running Operation: documented, v2 reference
  projects.locations.services/create.
- services.patch takes `allowMissing`, `validateOnly` and `updateMask` (comma-separated field names) in the query:
  documented, v2 reference projects.locations.services/patch.
- services.getIamPolicy at GET /v2/{resource=projects/*/locations/*/services/*}:getIamPolicy answering an IAM
  Policy {version, etag, bindings: [{role, members}]}: the client's rest_base.py and
  https://cloud.google.com/iam/docs/reference/rest/v1/Policy; `allUsers` as the member that makes a service public:
  https://cloud.google.com/run/docs/authenticating/public
- operations.get at /v2/{name=projects/*/locations/*/operations/*}: documented, google/cloud/run_v2/services/
  services/transports/rest_base.py of the installed client.
- An audience `aud` equal to the OAuth client (azp) of a user token is accepted: assumed, from the documented use
  of `gcloud auth print-identity-token` against private services (cloud.google.com/run/docs/authenticating/
  developers).
"""

from __future__ import annotations

import html
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import cloudrun_shapes as shapes
from tests.support.cloudrun_containers import RevisionRuntime
from tests.support.cloudrun_frontend import FORBIDDEN_PAGE, Admit, Decision, FrontEnd, Refuse
from tests.support.cloudrun_state import ApiError, ControlPlane
from tests.support.cloudrun_tokens import ISSUER, verify
from tests.support.http_emulator import HttpEmulator, JsonHandler

_SERVICE_ID = re.compile(r"^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$")
_UNAVAILABLE_PAGE = "<html><head><title>503 Service Unavailable</title></head><body>Service Unavailable</body></html>"
_NOT_FOUND_PAGE = "<html><head><title>404 Not Found</title></head><body>Error: Page not found</body></html>"

_LOCATION = r"/v2/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_ROUTES = [
    ("GET", re.compile(_LOCATION + r"/services/(?P<service>[^/:]+)$"), "get_service"),
    ("POST", re.compile(_LOCATION + r"/services$"), "create_service"),
    ("PATCH", re.compile(_LOCATION + r"/services/(?P<service>[^/:]+)$"), "update_service"),
    ("GET", re.compile(_LOCATION + r"/operations/(?P<operation>[^/:]+)$"), "get_operation"),
    ("GET", re.compile(_LOCATION + r"/services/(?P<service>[^/:]+):getIamPolicy$"), "get_iam_policy"),
    ("GET", re.compile(_LOCATION + r"/services/(?P<service>[^/]+)/revisions$"), "list_revisions"),
    ("GET", re.compile(_LOCATION + r"/services/(?P<service>[^/]+)/revisions/(?P<revision>[^/:]+)$"), "get_revision"),
]


class CloudRunEmulator(HttpEmulator):
    """The emulator: its HTTP server, its control plane, and the fault switches tests flip."""

    def __init__(self, *, startup_timeout_s: float = 30.0, id_token_keys: dict[str, str] | None = None) -> None:
        self.runtime = RevisionRuntime(startup_timeout_s=startup_timeout_s)
        self.plane = ControlPlane(self.runtime.start, self._open_front_end)
        self.id_token_keys = dict(id_token_keys or {})  # kid -> public PEM of the test's "Google" signing key
        self.invokers: set[str] = set()  # emails holding roles/run.invoker on every service
        self.front_ends: list[FrontEnd] = []
        self.front_end_answers: list[int] = []  # status of every refused front-end request
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, faults included
        self.bodies: list[dict[str, Any]] = []  # JSON body of every write
        self.update_masks: list[list[str]] = []  # the updateMask of every services.patch ([] when absent)
        self._faults: list[tuple[str | None, tuple[int, str | None, str | None, str | None, Any]]] = []
        self._delays: list[float] = []
        self._race_next_update = 0
        self._lock = threading.Lock()
        self._listen(_handler_for(self), "cloudrun-emulator")

    def close(self) -> None:
        """Stop serving, let reconcilers finish, and remove every container started."""
        self.stop_serving()
        for front_end in self.front_ends:
            front_end.close()
        self.runtime.close()
        for worker in list(self.plane.workers):
            worker.join(timeout=10)
        self.runtime.close()  # a reconciler may have started one more container while we waited

    # --- fault switches ------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        message: str | None = None,
        status_name: str | None = None,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        method: str | None = None,
    ) -> None:
        """The next `count` requests (of `method`, or whatever they ask) answer `status` (429, 503, 403...),
        optionally with a google.rpc status name and an ErrorInfo reason and metadata."""
        with self._lock:
            self._faults.extend([(method, (status, message, status_name, reason, metadata))] * count)

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """The next `count` requests are answered only after `seconds` (a client timeout fires first)."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def race_next_update(self, count: int = 1, *, answer: tuple[int, str] = (409, "ABORTED")) -> None:
        """Someone else writes the service just before each of the next `count` updates: their etag is stale, and
        Cloud Run answers `answer` (HTTP status, google.rpc status name) for the mismatch."""
        self._race_next_update = count
        self.plane.etag_mismatch = answer

    def grant_invoker(self, email: str) -> None:
        self.invokers.add(email)

    @property
    def secrets(self) -> dict[str, str]:
        """Secret Manager of the emulated project: secret id -> value of its latest version."""
        return self.plane.secret_values

    @property
    def stall_operations(self) -> bool:
        """While true, new operations never finish (and their services stay reconciling)."""
        return self.plane.stall_operations

    @stall_operations.setter
    def stall_operations(self, value: bool) -> None:
        self.plane.stall_operations = value

    def fail_next_revision(self, message: str | None = None) -> None:
        """The next revision fails its health check without starting a container."""
        with self.plane.lock:
            self.plane.failing_revisions.append(message or shapes.PORT_MESSAGE.format(port=8080))

    # --- what tests inspect or change behind the client's back ---------------------------------

    def service(self, project: str, location: str, name: str) -> dict[str, Any]:
        return self.plane.get_service(_service_name(project, location, name))

    def name_revision_in_template(self, project: str, location: str, name: str, revision: str) -> None:
        """Leave an explicit revision name in the template, as a tool that named its revision would."""
        with self.plane.lock:
            self.plane.services[_service_name(project, location, name)]["template"]["revision"] = revision

    def disable_default_uri(self, project: str, location: str, name: str) -> None:
        """Set defaultUriDisabled, as an operator who fronts the service with a load balancer would."""
        with self.plane.lock:
            self.plane.services[_service_name(project, location, name)]["defaultUriDisabled"] = True

    def pin_traffic(self, project: str, location: str, name: str, revision: str) -> None:
        """Send 100% to one revision by name, as the console or `gcloud ... update-traffic` would."""
        self.plane.pin_traffic(_service_name(project, location, name), revision)

    # --- request handling ----------------------------------------------------------------------

    def answer(self, method: str, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One request in, (status, JSON body) out."""
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        with self._lock:
            self.requests.append((method, path))
            if method != "GET":
                self.bodies.append(body)
            delay = self._delays.pop(0) if self._delays else 0.0
            # A delayed request's answer is never read by the client: it does not use up a fault.
            fault = None if delay else next((item for item in self._faults if item[0] in (None, method)), None)
            if fault is not None:
                self._faults.remove(fault)
        if delay:
            time.sleep(delay)
        if fault is not None:
            return fault[1][0], shapes.error_body(*fault[1])
        for verb, pattern, action in _ROUTES:
            match = pattern.match(path)
            if verb == method and match:
                try:
                    return 200, getattr(self, "_" + action)(match.groupdict(), query, body)
                except ApiError as err:
                    return err.status, shapes.error_body(
                        err.status, err.message, err.status_name, err.reason, err.metadata
                    )
        return 404, shapes.error_body(404, f"Method {method} {path} is not part of this emulator.")

    def _get_service(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        return self.plane.get_service(_service_name(**path))

    def _create_service(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        service_id = (query.get("serviceId") or [""])[0]
        if not service_id:
            raise ApiError(400, "service_id must be provided.")
        if not _SERVICE_ID.match(service_id):
            raise ApiError(
                400,
                f"service_id '{service_id}' must use only lowercase alphanumeric characters and dashes, cannot "
                "begin or end with a dash, and cannot be longer than 49 characters.",
            )
        name = _service_name(path["project"], path["location"], service_id)
        return self.plane.write_service(name, body, create=True, allow_missing=False)

    def _update_service(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        allow_missing = (query.get("allowMissing") or ["false"])[0] == "true"
        if self._race_next_update:
            self._race_next_update -= 1
            self.plane.touch(_service_name(**path))
        mask = [path for value in query.get("updateMask") or [] for path in value.split(",") if path]
        self.update_masks.append(mask)
        return self.plane.write_service(
            _service_name(**path), body, create=False, allow_missing=allow_missing, mask=mask or None
        )

    def _get_iam_policy(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        self.plane.get_service(_service_name(**path))  # 404 for a service that is not there
        members = sorted(member if member == "allUsers" else f"user:{member}" for member in self.invokers)
        bindings = [{"role": "roles/run.invoker", "members": members}] if members else []
        return {"version": 1, "etag": "BwYAAAAAAAA=", "bindings": bindings}

    def _get_operation(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        return self.plane.get_operation(
            f"projects/{path['project']}/locations/{path['location']}/operations/{path['operation']}"
        )

    def _get_revision(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        service = _service_name(path["project"], path["location"], path["service"])
        return self.plane.get_revision(f"{service}/revisions/{path['revision']}")

    def _list_revisions(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        return {"revisions": self.plane.list_revisions(_service_name(**path))}

    # --- the front end ---------------------------------------------------------------------------

    def _open_front_end(self, service: str, tag: str | None) -> str:
        front_end = FrontEnd(lambda path, headers: self._decide(service, tag, path, headers))
        self.front_ends.append(front_end)
        return front_end.url

    def _decide(self, name: str, tag: str | None, path: str, headers: dict[str, str]) -> Decision:
        with self.plane.lock:
            service = self.plane.services.get(name) or {}
            revision = self.plane.serving_revision(name, tag)
            port = self.plane.ports.get(revision or "")
            audiences = {service.get("uri"), *service.get("urls", []), *service.get("customAudiences", [])}
        decision: Decision
        if not service or (tag is not None and revision is None):
            decision = Refuse(404, "Not Found", _NOT_FOUND_PAGE)
        elif not service.get("invokerIamDisabled") and not self._authorized(headers, audiences):
            page = FORBIDDEN_PAGE.format(path=html.escape(path.split("?", 1)[0]))
            decision = Refuse(403, "Forbidden", page)
        elif port is None:
            decision = Refuse(503, "Service Unavailable", _UNAVAILABLE_PAGE)
        else:
            return Admit(port)
        with self._lock:
            self.front_end_answers.append(decision.status)
        return decision

    def _authorized(self, headers: dict[str, str], audiences: set[Any]) -> bool:
        """A Google-signed ID token for one of the service's audiences, from an invoker; X-Serverless-Authorization
        is read first."""
        raw = headers.get("x-serverless-authorization") or headers.get("authorization") or ""
        if not raw.startswith("Bearer ") or not self.id_token_keys:
            return False
        try:
            claims = verify(raw.removeprefix("Bearer ").strip(), self.id_token_keys)
        except ValueError:
            return False
        audience = str(claims.get("aud", ""))
        user_client = audience.endswith(".apps.googleusercontent.com") and claims.get("azp") == audience
        return (
            claims.get("iss") == ISSUER
            and (audience in audiences or user_client)
            and ("allUsers" in self.invokers or claims.get("email") in self.invokers)
        )


def _service_name(project: str, location: str, service: str) -> str:
    return f"projects/{project}/locations/{location}/services/{service}"


def _handler_for(emulator: CloudRunEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            try:
                body = self.read_json()
            except ValueError:
                status, answer = 400, shapes.error_body(400, "Invalid JSON payload received.")
            else:
                status, answer = emulator.answer(self.command, self.path, body)
            self.send_json(status, answer)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler
