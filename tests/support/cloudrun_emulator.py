"""A Cloud Run Admin API v2 emulator for tests: the REST surface the real client uses, revisions run on Docker.

Served on 127.0.0.1 (port 0) from a background thread; point `ServicesClient(transport="rest",
client_options={"api_endpoint": emulator.endpoint})` at it with anonymous credentials.

Simplifications, on purpose: one container per revision, published on its own 127.0.0.1 port. A
service's `uri` is the port of the revision with the largest traffic share (so it moves when traffic
moves), and a tag's URL is its revision's port (a tag on the serving revision has the service's URL).
Revisions are numbered per service (`SERVICE-00001-abc`); a revision is Ready once its container
accepts a TCP connection on $PORT, and fails with Cloud Run's own condition text when it exits first,
does not listen in time, or its image cannot be found.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import cloudrun_shapes as shapes
from tests.support.cloudrun_containers import RevisionRuntime
from tests.support.cloudrun_state import ApiError, ControlPlane

_LOCATION = r"/v2/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_ROUTES = [
    ("GET", re.compile(_LOCATION + r"/services/(?P<service>[^/:]+)$"), "get_service"),
    ("POST", re.compile(_LOCATION + r"/services$"), "create_service"),
    ("PATCH", re.compile(_LOCATION + r"/services/(?P<service>[^/:]+)$"), "update_service"),
    ("GET", re.compile(_LOCATION + r"/operations/(?P<operation>[^/:]+)$"), "get_operation"),
    ("GET", re.compile(_LOCATION + r"/services/(?P<service>[^/]+)/revisions$"), "list_revisions"),
    ("GET", re.compile(_LOCATION + r"/services/(?P<service>[^/]+)/revisions/(?P<revision>[^/:]+)$"), "get_revision"),
]


class CloudRunEmulator:
    """The emulator: its HTTP server, its control plane, and the fault switches tests flip."""

    def __init__(self, *, startup_timeout_s: float = 30.0) -> None:
        self.runtime = RevisionRuntime(startup_timeout_s=startup_timeout_s)
        self.plane = ControlPlane(self.runtime.start)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, faults included
        self._faults: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="cloudrun-emulator", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> CloudRunEmulator:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, let reconcilers finish, and remove every container started."""
        self._server.shutdown()
        self._server.server_close()
        self.runtime.close()
        for worker in list(self.plane.workers):
            worker.join(timeout=10)
        self.runtime.close()  # a reconciler may have started one more container while we waited

    def __enter__(self) -> CloudRunEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- fault switches ------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, *, message: str | None = None) -> None:
        """The next `count` requests, whatever they ask, answer `status` (429, 503, 403...)."""
        with self._lock:
            self._faults.extend([(status, message)] * count)

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

    def pin_traffic(self, project: str, location: str, name: str, revision: str) -> None:
        """Send 100% to one revision by name, as the console or `gcloud ... update-traffic` would."""
        self.plane.pin_traffic(_service_name(project, location, name), revision)

    # --- request handling ----------------------------------------------------------------------

    def answer(self, method: str, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One request in, (status, JSON body) out."""
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        with self._lock:
            self.requests.append((method, path))
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            return fault[0], shapes.error_body(*fault)
        for verb, pattern, action in _ROUTES:
            match = pattern.match(path)
            if verb == method and match:
                try:
                    return 200, getattr(self, "_" + action)(match.groupdict(), query, body)
                except ApiError as err:
                    return err.status, shapes.error_body(err.status, err.message)
        return 404, shapes.error_body(404, f"Method {method} {path} is not part of this emulator.")

    def _get_service(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        return self.plane.get_service(_service_name(**path))

    def _create_service(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        service_id = (query.get("serviceId") or [""])[0]
        if not service_id:
            raise ApiError(400, "service_id must be provided.")
        name = _service_name(path["project"], path["location"], service_id)
        return self.plane.write_service(name, body, create=True, allow_missing=False)

    def _update_service(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        allow_missing = (query.get("allowMissing") or ["false"])[0] == "true"
        return self.plane.write_service(_service_name(**path), body, create=False, allow_missing=allow_missing)

    def _get_operation(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        return self.plane.get_operation(
            f"projects/{path['project']}/locations/{path['location']}/operations/{path['operation']}"
        )

    def _get_revision(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        service = _service_name(path["project"], path["location"], path["service"])
        return self.plane.get_revision(f"{service}/revisions/{path['revision']}")

    def _list_revisions(self, path: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
        return {"revisions": self.plane.list_revisions(_service_name(**path))}


def _service_name(project: str, location: str, service: str) -> str:
    return f"projects/{project}/locations/{location}/services/{service}"


def _handler_for(emulator: CloudRunEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                status, answer = 400, shapes.error_body(400, "Invalid JSON payload received.")
            else:
                status, answer = emulator.answer(self.command, self.path, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # the test output stays quiet
            pass

    return Handler
