"""The emulator's control plane: services, revisions, operations and traffic, kept as the API's own JSON."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from typing import Any

from tests.support import cloudrun_shapes as shapes
from tests.support.cloudrun_containers import Failed, Outcome, Started

# Fields a client may not set: the server keeps its own values whatever the request says.
_OUTPUT_ONLY = frozenset(
    {
        *("name", "uid", "generation", "createTime", "updateTime", "deleteTime", "expireTime", "creator"),
        *("lastModifier", "observedGeneration", "terminalCondition", "conditions", "latestReadyRevision"),
        *("latestCreatedRevision", "trafficStatuses", "uri", "urls", "satisfiesPzs", "reconciling", "etag"),
    }
)
_RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")

Runner = Callable[[str, str, dict[str, str], int], Outcome]


class ApiError(Exception):
    """An HTTP error answer: status and Google's error message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlPlane:
    """What Cloud Run keeps; `run_revision` starts a revision's container (blocking, called off the lock)."""

    def __init__(self, run_revision: Runner) -> None:
        self.run_revision = run_revision
        self.services: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}  # revision full name -> the template it was made from
        self.ports: dict[str, int] = {}  # revision short name -> published host port
        self.stall_operations = False
        self.failing_revisions: list[str] = []
        self.lock = threading.RLock()
        self.workers: list[threading.Thread] = []

    # --- reads ---------------------------------------------------------------------------------

    def get_service(self, name: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._service(name))

    def get_operation(self, name: str) -> dict[str, Any]:
        with self.lock:
            found = self.operations.get(name)
            if found is None:
                raise ApiError(404, f"Operation '{name}' not found.")
            return copy.deepcopy(found)

    def get_revision(self, name: str) -> dict[str, Any]:
        with self.lock:
            found = self.revisions.get(name)
            if found is None:
                raise ApiError(404, f"Revision '{name.rsplit('/', 1)[-1]}' not found.")
            return copy.deepcopy(found)

    def list_revisions(self, service: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(item) for key, item in self.revisions.items() if key.startswith(service + "/")]

    # --- writes --------------------------------------------------------------------------------

    def write_service(self, name: str, body: dict[str, Any], *, create: bool, allow_missing: bool) -> dict[str, Any]:
        """Create or replace a service's spec; answers the (not yet done) operation."""
        with self.lock:
            current = self.services.get(name)
            if current is None and not (create or allow_missing):
                self._service(name)  # raises Cloud Run's NOT_FOUND
            if current is not None and create:
                raise ApiError(409, f"Resource '{_short(name)}' already exists.")
            if current is not None and body.get("etag") and body["etag"] != current["etag"]:
                raise ApiError(409, "The etag of the request does not match the current etag of the service.")
            spec = {key: value for key, value in body.items() if key not in _OUTPUT_ONLY}
            spec["template"] = shapes.template_defaults(spec.get("template") or {})
            spec.setdefault("traffic", [{"type": shapes.LATEST, "percent": 100}])
            spec.setdefault("ingress", shapes.INGRESS_ALL)
            _check_env(spec["template"])
            revision = self._revision_for(name, spec["template"], current)
            self._check_traffic(name, spec["traffic"], revision)
            service = self._next_generation(name, spec, current, revision)
            return self._launch(name, service, revision)

    def pin_traffic(self, name: str, revision: str) -> None:
        """Another tool (the console, `gcloud run services update-traffic`) sends 100% to one revision."""
        with self.lock:
            service = self._service(name)
            service["traffic"] = [{"type": shapes.REVISION, "revision": revision, "percent": 100}]
            service["generation"] = service["observedGeneration"] = str(int(service["generation"]) + 1)
            service["etag"] = shapes.etag()
            self._route(service)

    # --- internals -----------------------------------------------------------------------------

    def _service(self, name: str) -> dict[str, Any]:
        found = self.services.get(name)
        if found is None:
            parts = name.split("/")
            raise ApiError(
                404,
                f"Resource '{parts[-1]}' of kind 'SERVICE' in region '{parts[3]}' in project '{parts[1]}' "
                "does not exist.",
            )
        return found

    def _revision_for(self, service: str, template: dict[str, Any], current: dict[str, Any] | None) -> str | None:
        """The new revision's full name, or None when the template is the latest revision's."""
        wanted = template.get("revision")
        latest = (current or {}).get("latestCreatedRevision")
        if latest and _same(self.templates[latest], template) and wanted in (None, _short(latest)):
            return None
        if wanted:
            if not wanted.startswith(_short(service) + "-"):
                raise ApiError(400, f"Revision name '{wanted}' must be prefixed by the service name.")
            existing = self.templates.get(f"{service}/revisions/{wanted}")
            if existing is not None and not _same(existing, template):
                raise ApiError(409, f"Revision named '{wanted}' with different configuration already exists.")
            return f"{service}/revisions/{wanted}"
        count = sum(key.startswith(service + "/") for key in self.revisions) + 1
        return f"{service}/revisions/{_short(service)}-{count:05d}-{shapes.suffix()}"

    def _check_traffic(self, service: str, traffic: list[dict[str, Any]], revision: str | None) -> None:
        if sum(target.get("percent", 0) for target in traffic) != 100:
            raise ApiError(400, "The sum of traffic percentages must be 100.")
        known = {_short(key) for key in self.revisions if key.startswith(service + "/")}
        if revision:
            known.add(_short(revision))
        for target in traffic:
            if target.get("type") == shapes.REVISION and target.get("revision") not in known:
                raise ApiError(
                    400,
                    f"Revision '{target.get('revision')}' does not exist or is deleted. "
                    "Update all traffic to route to currently available revisions.",
                )

    def _next_generation(
        self, name: str, spec: dict[str, Any], current: dict[str, Any] | None, revision: str | None
    ) -> dict[str, Any]:
        previous = current or {"name": name, "uid": str(uuid.uuid4()), "createTime": shapes.now(), "generation": "0"}
        generation = int(previous["generation"]) + 1
        service = {key: value for key, value in previous.items() if key in _OUTPUT_ONLY}
        service.update(spec, generation=str(generation), updateTime=shapes.now(), etag=shapes.etag())
        service.setdefault("observedGeneration", str(generation - 1))
        service["reconciling"] = True
        message = "Creating Revision." if revision else "Routing traffic."
        service["terminalCondition"] = shapes.condition("Ready", shapes.RECONCILING, message)
        if revision:
            service["latestCreatedRevision"] = revision
            self.revisions[revision] = self._new_revision(name, revision, spec["template"])
            self.templates[revision] = spec["template"]
        self.services[name] = service
        return service

    def _new_revision(self, service: str, revision: str, template: dict[str, Any]) -> dict[str, Any]:
        found = {
            "name": revision,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            "createTime": shapes.now(),
            "service": service,
            "reconciling": True,
            "conditions": [shapes.condition("Ready", shapes.RECONCILING, "Deploying revision.")],
        }
        for key in ("labels", "annotations", "scaling", "timeout", "serviceAccount", "containers"):
            if key in template:
                found[key] = template[key]
        return found

    def _launch(self, name: str, service: dict[str, Any], revision: str | None) -> dict[str, Any]:
        location = name.rsplit("/services/", 1)[0]
        op_name = f"{location}/operations/{uuid.uuid4()}"
        self.operations[op_name] = shapes.operation(op_name, copy.deepcopy(service), done=False)
        if not self.stall_operations:
            worker = threading.Thread(target=self._reconcile, args=(op_name, name, revision, service["generation"]))
            worker.daemon = True
            self.workers.append(worker)
            worker.start()
        return copy.deepcopy(self.operations[op_name])

    def _reconcile(self, op_name: str, name: str, revision: str | None, generation: str) -> None:
        outcome: Outcome | None = None
        if revision is not None:
            outcome = self._start(revision)
        with self.lock:
            service = self.services[name]
            error = self._settle_revision(service, revision, outcome) if revision else None
            self._route(service)
            if service["generation"] == generation:
                service["observedGeneration"] = generation
                service["reconciling"] = False
            self.operations[op_name] = shapes.operation(op_name, copy.deepcopy(service), done=True, error=error)

    def _start(self, revision: str) -> Outcome:
        with self.lock:
            if self.failing_revisions:
                message = self.failing_revisions.pop(0)
                return Failed("ContainerHealthy", message, {"revisionReason": shapes.HEALTH_CHECK_CONTAINER_ERROR})
            template = self.templates[revision]
            container = template["containers"][0]
            env = {item["name"]: item.get("value", "") for item in container.get("env", [])}
            service = self.revisions[revision]["service"]
            env.update(K_SERVICE=_short(service), K_REVISION=_short(revision), K_CONFIGURATION=_short(service))
        return self.run_revision(_short(revision), container["image"], env, shapes.container_port(template))

    def _settle_revision(
        self, service: dict[str, Any], revision: str, outcome: Outcome | None
    ) -> dict[str, Any] | None:
        found = self.revisions[revision]
        found["reconciling"] = False
        found["observedGeneration"] = "1"
        if isinstance(outcome, Started):
            self.ports[_short(revision)] = outcome.host_port
            found["conditions"] = [
                shapes.condition(kind, shapes.SUCCEEDED)
                for kind in ("Ready", "ContainerReady", "ResourcesAvailable", "ContainerHealthy")
            ]
            service["latestReadyRevision"] = revision
            service["terminalCondition"] = shapes.condition("Ready", shapes.SUCCEEDED)
            service["conditions"] = [
                shapes.condition(kind, shapes.SUCCEEDED) for kind in ("RoutesReady", "ConfigurationsReady")
            ]
            return None
        assert isinstance(outcome, Failed)
        found["conditions"] = [
            shapes.condition("Ready", shapes.FAILED, outcome.message),
            shapes.condition(outcome.kind, shapes.FAILED, outcome.message, **outcome.reason),
        ]
        message = f"Revision '{_short(revision)}' is not ready and cannot serve traffic. {outcome.message}"
        service["terminalCondition"] = shapes.condition("Ready", shapes.FAILED, message, reason=shapes.REVISION_FAILED)
        service["conditions"] = [shapes.condition("ConfigurationsReady", shapes.FAILED, message)]
        return {"code": shapes.FAILED_PRECONDITION_CODE, "message": message}

    def _route(self, service: dict[str, Any]) -> None:
        """Resolve traffic: LATEST is the latest ready revision; the service URI is the busiest revision's port."""
        latest = _short(service.get("latestReadyRevision", ""))
        statuses: list[dict[str, Any]] = []
        shares: dict[str, int] = {}
        for target in service["traffic"]:
            kind = target.get("type", shapes.LATEST)
            revision = target.get("revision", "") if kind == shapes.REVISION else latest
            status: dict[str, Any] = {"type": kind, "percent": target.get("percent", 0)}
            if kind == shapes.REVISION:
                status["revision"] = revision
            if target.get("tag"):
                status["tag"] = target["tag"]
                status["uri"] = self._url(revision)
            statuses.append(status)
            shares[revision] = shares.get(revision, 0) + status["percent"]
        service["trafficStatuses"] = statuses
        serving = max(shares, key=lambda item: shares[item], default="")
        if self._url(serving):
            service["uri"] = self._url(serving)
            service["urls"] = [service["uri"]]

    def _url(self, revision: str) -> str:
        port = self.ports.get(revision)
        return f"http://127.0.0.1:{port}" if port else ""


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _same(left: dict[str, Any], right: dict[str, Any]) -> bool:
    return {k: v for k, v in left.items() if k != "revision"} == {k: v for k, v in right.items() if k != "revision"}


def _check_env(template: dict[str, Any]) -> None:
    for container in template.get("containers", []):
        names = [item.get("name") for item in container.get("env", [])]
        reserved = [name for name in names if name in _RESERVED_ENV]
        if reserved:
            raise ApiError(
                400,
                f"The following reserved env names were provided: {', '.join(reserved)}. "
                "These values are automatically set by the system.",
            )
