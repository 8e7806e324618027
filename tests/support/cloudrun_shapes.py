"""The Cloud Run Admin API v2 JSON the REST client speaks: enum numbers, conditions, operations, errors."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any

# The REST transport sends `$alt=json;enum-encoding=int`: enums travel as numbers, both ways.
LATEST = 1  # TrafficTargetAllocationType
REVISION = 2
PENDING, RECONCILING, FAILED, SUCCEEDED = 1, 2, 3, 4  # Condition.State
ERROR, INFO = 1, 3  # Condition.Severity
REVISION_FAILED, CONTAINER_MISSING = 3, 6  # Condition.CommonReason
HEALTH_CHECK_CONTAINER_ERROR = 6  # Condition.RevisionReason
INGRESS_ALL = 1

SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_DEFAULT_MESSAGES = {
    429: "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per region'.",
    503: "The service is currently unavailable.",
}
# google.rpc.Code of a failed operation: the revision never became ready.
FAILED_PRECONDITION_CODE = 9

PORT_MESSAGE = (
    "The user-provided container failed to start and listen on the port defined provided by the "
    "PORT={port} environment variable within the allocated timeout. This can happen when the container "
    "port is misconfigured or if the timeout is too short. The health check timeout can be extended. "
    "Logs for this revision might contain more information."
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def suffix() -> str:
    """Cloud Run's revision suffix: three random lowercase characters."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(3))


def etag() -> str:
    return '"' + secrets.token_urlsafe(12) + '"'


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    text = message or _DEFAULT_MESSAGES.get(status, "error")
    return {"error": {"code": status, "message": text, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}


def condition(kind: str, state: int, message: str = "", **reason: int) -> dict[str, Any]:
    """One Condition; `reason=`, `revisionReason=` are the oneof the real API fills."""
    found: dict[str, Any] = {"type": kind, "state": state, "lastTransitionTime": now()}
    if message:
        found["message"] = message
    if state == FAILED:
        found["severity"] = ERROR
    found.update(reason)
    return found


def operation(name: str, service: dict[str, Any], *, done: bool, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """A google.longrunning.Operation: metadata and response are the Service, packed as Any."""
    packed = {"@type": SERVICE_TYPE, **service}
    found: dict[str, Any] = {"name": name, "metadata": packed, "done": done}
    if done and error is not None:
        found["error"] = error
    elif done:
        found["response"] = packed
    return found


def template_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """What Cloud Run fills in when a template leaves it out, so equal templates compare equal."""
    filled = {"timeout": "300s", "maxInstanceRequestConcurrency": 80, **template}
    filled.setdefault("serviceAccount", "000000000000-compute@developer.gserviceaccount.com")
    filled["scaling"] = {"maxInstanceCount": 100, **template.get("scaling", {})}
    filled["containers"] = [_container_defaults(item) for item in template.get("containers", [])]
    return filled


def _container_defaults(container: dict[str, Any]) -> dict[str, Any]:
    filled = dict(container)
    filled["ports"] = container.get("ports") or [{"name": "http1", "containerPort": 8080}]
    resources = dict(container.get("resources", {}))
    resources["limits"] = {"cpu": "1000m", "memory": "512Mi", **resources.get("limits", {})}
    filled["resources"] = {"cpuIdle": True, "startupCpuBoost": True, **resources}
    return filled


def container_port(template: dict[str, Any]) -> int:
    ports = template["containers"][0].get("ports") or [{}]
    return int(ports[0].get("containerPort", 8080))
