"""The Cloud Run Admin API v2 JSON the REST client speaks: enum numbers, conditions, operations, errors.

Shapes, one per line:
- Enums travel as numbers (`$alt=json;enum-encoding=int`): documented, google/cloud/run_v2/services/services/
  transports/rest_base.py of the installed client; the numbers are those of google/cloud/run_v2/types/condition.py.
- Errors: {"error": {"code", "message", "status", "details"}} with google.rpc.Status names: documented,
  cloud.google.com/apis/design/errors#http_mapping.
- ErrorInfo detail {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason", "domain", "metadata"}:
  documented, cloud.google.com/apis/design/errors#error_info; SERVICE_DISABLED with metadata consumer/service as
  in dora-team/fourkeys#320; IAM_PERMISSION_DENIED with metadata permission: documented, same page (the
  "iam.googleapis.com" domain example).
- SERVICE_DISABLED message "Cloud Run Admin API has not been used in project N before or it is disabled. ...":
  GoogleCloudPlatform/emblem#757.
- A long-running Operation with the Service packed as Any in metadata and response: documented, v2 reference
  services.create ("the response ... is a Service"), google/longrunning/operations.proto.
- PORT_MESSAGE: the condition text users quote, google/exposure-notifications-verification-server#79 and
  the Cloud Run troubleshooting page (cloud.google.com/run/docs/troubleshooting#container-failed-to-start).
- log_uri's query string: assumed (the reference only says "The Google Console URI to obtain logs").
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any

from tests.support.google_errors import status_error

# The REST transport sends `$alt=json;enum-encoding=int`: enums travel as numbers, both ways.
LATEST = 1  # TrafficTargetAllocationType
REVISION = 2
PENDING, RECONCILING, FAILED, SUCCEEDED = 1, 2, 3, 4  # Condition.State
ERROR, INFO = 1, 3  # Condition.Severity
REVISION_FAILED, CONTAINER_MISSING, SECRETS_ACCESS_CHECK_FAILED = 3, 6, 12  # Condition.CommonReason
HEALTH_CHECK_CONTAINER_ERROR = 6  # Condition.RevisionReason
INGRESS_ALL = 1

SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"
# The top-level fields of Service in JSON: the v2 reference, projects.locations.services (Resource: Service).
SERVICE_FIELDS = frozenset(
    {
        *("name", "description", "uid", "generation", "labels", "annotations", "createTime", "updateTime"),
        *("deleteTime", "expireTime", "creator", "lastModifier", "client", "clientVersion", "ingress", "launchStage"),
        *("binaryAuthorization", "template", "traffic", "scaling", "invokerIamDisabled", "defaultUriDisabled"),
        *("urls", "customAudiences", "observedGeneration", "terminalCondition", "conditions", "latestReadyRevision"),
        *("latestCreatedRevision", "trafficStatuses", "uri", "satisfiesPzs", "buildConfig", "reconciling", "etag"),
    }
)
_DEFAULT_MESSAGES = {
    429: "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per region'.",
    503: "The service is currently unavailable.",
}
# google.rpc.Code of a failed operation: the revision never became ready; something broke inside.
FAILED_PRECONDITION_CODE = 9
INTERNAL_CODE = 13

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


def error_body(
    status: int,
    message: str | None = None,
    status_name: str | None = None,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    text = message or _DEFAULT_MESSAGES.get(status, "error")
    error: dict[str, Any] = status_error(status, text, status=status_name)["error"]
    if reason:
        domain = "iam.googleapis.com" if reason.startswith("IAM_") else "googleapis.com"
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": domain,
                "metadata": metadata or {},
            }
        ]
    return {"error": error}


def log_uri(revision: str) -> str:
    """Revision.logUri for `projects/P/locations/R/services/S/revisions/REV` (query string assumed)."""
    parts = revision.split("/")
    return (
        f"https://console.cloud.google.com/logs/viewer?project={parts[1]}&resource=cloud_run_revision/"
        f"service_name/{parts[5]}/revision_name/{parts[7]}"
    )


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
