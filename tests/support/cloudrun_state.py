"""The emulator's control plane: services, revisions, operations and traffic, kept as the API's own JSON.

Shapes, one per line (cloud.google.com/run/docs/reference/rest/v2/projects.locations.services is "the v2
reference"; google/cloud/run_v2/types/service.py of the installed client carries the same field docs):

- A failed reconciliation leaves observedGeneration, trafficStatuses and latestReadyRevision on the last serving
  revision, with reconciling false and the terminal condition failed: documented, v2 reference `reconciling`.
- latestCreatedRevision names the new revision even when it failed: documented, v2 reference `latestCreatedRevision`
  ("Name of the last created revision").
- 409 with status ABORTED for an etag mismatch: documented, cloud.google.com/apis/design/errors (ABORTED:
  "concurrency conflict, such as read-modify-write conflict"); the message text is assumed. Which code Cloud Run
  sends is not documented for services.patch: https://google.aip.dev/154 asks for ABORTED, earlier guidance and
  other Google APIs answer FAILED_PRECONDITION (400) or HTTP 412 Precondition Failed, so `etag_mismatch` picks
  one (assumed: each is possible).
- 409 with status ALREADY_EXISTS for a taken service id or a revision name with another configuration:
  documented, cloud.google.com/apis/design/errors; message "Revision named 'x' with different configuration
  already exists." is assumed from users' reports (gcloud --revision-suffix reuse).
- A template naming an existing revision is compared with the template that revision was made from, as it was
  sent: the service as read carries the server's defaults, so sending it back with only the traffic changed answers
  that 409 (public report googleapis/google-cloud-python#11870, "Update service fails when removing items from
  traffic field"; the exact fields Cloud Run compares are assumed: here every field as sent).
- services.patch honours `updateMask`: only the named top-level fields are taken from the request, a named field
  the request leaves out is cleared: v2 reference UpdateServiceRequest.update_mask ("The list of fields to be
  updated") and https://google.aip.dev/134 (field masks on update); that Cloud Run keeps to AIP-134 is assumed.
- A traffic target naming an unknown revision fails the operation (google.rpc.Code 13) rather than the request:
  assumed, as the issue tracker of this project describes it.
- Annotations and labels in the run.googleapis.com, cloud.googleapis.com, serving.knative.dev and
  autoscaling.knative.dev namespaces are rejected: documented, v2 reference `annotations` / `labels`.
- Service ids: lowercase letters, digits and hyphens, starting with a letter, under 50 characters: documented,
  v2 reference `serviceId` of services.create ("must be ... less than 50 characters"); message text assumed.
- Tag and service name together at most 46 characters: assumed (a tag URL must fit one 63-character DNS label).
- Images only from *.gcr.io, *-docker.pkg.dev and docker.io: documented, cloud.google.com/run/docs/deploying
  ("Supported container registries and images"); 127.0.0.1 and localhost registries stand in for Artifact
  Registry here (assumed); message text assumed.
- Revision.logUri "The Google Console URI to obtain logs for the Revision": documented; its query string is assumed.
- Service.client / clientVersion are kept as sent: documented, v2 reference.
- invokerIamDisabled skips the invoker check: documented, v2 reference `invokerIamDisabled`. Turning it on needs
  run.services.setIamPolicy (roles/run.admin): documented, cloud.google.com/run/docs/securing/managing-access
  ("Disable the Cloud Run Invoker IAM check"); a caller without it gets 403 PERMISSION_DENIED with ErrorInfo
  IAM_PERMISSION_DENIED naming the permission (the shape cloudrun_shapes.py cites; the message text is assumed).
- uri: documented shape https://SERVICE-HASH-REGION.a.run.app; here a stable front end on 127.0.0.1 (assumed
  stand-in: tests cannot resolve run.app). urls keeps it and the deterministic
  https://SERVICE-PROJECT_NUMBER.REGION.run.app (documented, cloud.google.com/run/docs/triggering/https-request).
- Tag URLs: documented shape https://TAG---SERVICE-HASH-REGION.a.run.app; here one front end per tag (assumed).
- Secret Manager env references (valueSource.secretKeyRef) resolved when the instance starts: documented,
  cloud.google.com/run/docs/configuring/services/secrets; a missing secret fails the revision (message assumed).
  A secret the revision's service account may not access fails it with "spec.template.spec.containers[0].env[N]
  .value_from.secret_key_ref.name: Permission denied on secret: projects/NUMBER/secrets/S/versions/V for Revision
  service account SA. The service account used must be granted the 'Secret Manager Secret Accessor' role
  (roles/secretmanager.secretAccessor) at the secret, project or higher level.": as quoted in public reports
  (terraform-google-modules/terraform-docs-samples#168, sourcegraph/sourcegraph-public-snapshot#59045).
"""

from __future__ import annotations

import copy
import re
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
OpenUrl = Callable[[str, str | None], str]  # (service name, tag or None) -> the URL its front end listens on


class ApiError(Exception):
    """An HTTP error answer: status, Google's error message, and the google.rpc status name when REST maps
    several to one HTTP status (409: ABORTED or ALREADY_EXISTS)."""

    def __init__(
        self,
        status: int,
        message: str,
        status_name: str | None = None,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.status_name = status_name
        self.reason = reason  # an ErrorInfo reason, with its metadata
        self.metadata = metadata


_RESERVED_PREFIXES = ("run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev", "autoscaling.knative.dev")
_PULLABLE = re.compile(
    r"^((?:[a-z0-9-]+\.)*gcr\.io|[a-z0-9-]+-docker\.pkg\.dev|docker\.io|127\.0\.0\.1(:\d+)?|localhost(:\d+)?)/"
)
PROJECT_NUMBER = "123456789012"  # assumed: every emulated project has this number


class ControlPlane:
    """What Cloud Run keeps; `run_revision` starts a revision's container (blocking, called off the lock)."""

    def __init__(self, run_revision: Runner, open_url: OpenUrl) -> None:
        self.run_revision = run_revision
        self.open_url = open_url
        self.urls: dict[tuple[str, str | None], str] = {}
        self.secret_values: dict[str, str] = {}  # Secret Manager: secret id -> value of its latest version
        self.denied_secrets: set[str] = set()  # secrets the revisions' service account may not access
        self.services: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}  # revision full name -> the template it was made from
        self.can_set_iam_policy = True  # the deploying identity holds run.services.setIamPolicy
        self.etag_mismatch = (409, "ABORTED")  # (HTTP status, google.rpc status) a stale etag is answered with
        self.sent: dict[str, dict[str, Any]] = {}  # revision full name -> that template as the client sent it
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

    def write_service(
        self, name: str, body: dict[str, Any], *, create: bool, allow_missing: bool, mask: list[str] | None = None
    ) -> dict[str, Any]:
        """Create or replace a service's spec (only the `mask` fields, when given); answers the operation."""
        with self.lock:
            current = self.services.get(name)
            if mask is not None and current is not None:
                body = _masked(current, body, mask)
            if current is None and not (create or allow_missing):
                self._service(name)  # raises Cloud Run's NOT_FOUND
            if current is not None and create:
                raise ApiError(409, f"Resource '{_short(name)}' already exists.", "ALREADY_EXISTS")
            if current is not None and body.get("etag") and body["etag"] != current["etag"]:
                status, status_name = self.etag_mismatch
                raise ApiError(
                    status, "The etag of the request does not match the current etag of the service.", status_name
                )
            spec = {key: value for key, value in body.items() if key not in _OUTPUT_ONLY}
            sent = copy.deepcopy(spec.get("template") or {})
            spec["template"] = shapes.template_defaults(spec.get("template") or {})
            spec.setdefault("traffic", [{"type": shapes.LATEST, "percent": 100}])
            spec.setdefault("ingress", shapes.INGRESS_ALL)
            if spec.get("invokerIamDisabled") and not (current or {}).get("invokerIamDisabled"):
                self._check_set_iam_policy(name)
            _check_env(spec["template"])
            _check_metadata(spec)
            _check_images(spec["template"])
            template_sent = mask is None or "template" in mask
            revision = self._revision_for(name, spec["template"], current, sent if template_sent else None)
            self._check_traffic(name, spec["traffic"])
            service = self._next_generation(name, spec, current, revision)
            if revision:
                self.sent[revision] = sent
            return self._launch(name, service, revision)

    def _check_set_iam_policy(self, name: str) -> None:
        if self.can_set_iam_policy:
            return
        raise ApiError(
            403,
            f"Permission 'run.services.setIamPolicy' denied on resource '{name}' (or it may not exist).",
            "PERMISSION_DENIED",
            reason="IAM_PERMISSION_DENIED",
            metadata={"permission": "run.services.setIamPolicy", "resource": name},
        )

    def pin_traffic(self, name: str, revision: str) -> None:
        """Another tool (the console, `gcloud run services update-traffic`) sends 100% to one revision."""
        with self.lock:
            service = self._service(name)
            service["traffic"] = [{"type": shapes.REVISION, "revision": revision, "percent": 100}]
            service["generation"] = service["observedGeneration"] = str(int(service["generation"]) + 1)
            service["etag"] = shapes.etag()
            self._route(service)

    def touch(self, name: str) -> None:
        """Another writer changes the service (a label, say): a new generation and etag."""
        with self.lock:
            service = self._service(name)
            service.setdefault("labels", {})["touched"] = "elsewhere"
            service["generation"] = service["observedGeneration"] = str(int(service["generation"]) + 1)
            service["etag"] = shapes.etag()

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

    def _revision_for(
        self, service: str, template: dict[str, Any], current: dict[str, Any] | None, sent: dict[str, Any] | None
    ) -> str | None:
        """The new revision's full name, or None when the template is the latest revision's. `sent` is the template
        as the request carried it (None when an update mask leaves the template out)."""
        wanted = template.get("revision")
        latest = (current or {}).get("latestCreatedRevision")
        if wanted and sent is not None:
            made_from = self.sent.get(f"{service}/revisions/{wanted}")
            if made_from is not None and not _same(made_from, sent):
                raise ApiError(
                    409, f"Revision named '{wanted}' with different configuration already exists.", "ALREADY_EXISTS"
                )
        if latest and _same(self.templates[latest], template) and wanted in (None, _short(latest)):
            return None
        if wanted:
            if not wanted.startswith(_short(service) + "-"):
                raise ApiError(400, f"Revision name '{wanted}' must be prefixed by the service name.")
            if len(wanted) > 63 or not re.fullmatch(r"[a-z]([a-z0-9-]*[a-z0-9])?", wanted):
                raise ApiError(400, f"Revision name '{wanted}' must be a DNS label of at most 63 characters.")
            existing = self.templates.get(f"{service}/revisions/{wanted}")
            if existing is not None and not _same(existing, template):
                raise ApiError(
                    409, f"Revision named '{wanted}' with different configuration already exists.", "ALREADY_EXISTS"
                )
            return None if existing is not None else f"{service}/revisions/{wanted}"
        count = sum(key.startswith(service + "/") for key in self.revisions) + 1
        return f"{service}/revisions/{_short(service)}-{count:05d}-{shapes.suffix()}"

    def _check_traffic(self, service: str, traffic: list[dict[str, Any]]) -> None:
        if sum(target.get("percent", 0) for target in traffic) != 100:
            raise ApiError(400, "The sum of traffic percentages must be 100.")
        for target in traffic:
            tag = target.get("tag")
            if tag and len(tag) + len(_short(service)) > 46:
                raise ApiError(400, f"Tag '{tag}' and service name '{_short(service)}' together exceed 46 characters.")

    def _unknown_targets(self, service: str, traffic: list[dict[str, Any]]) -> list[str]:
        known = {_short(key) for key in self.revisions if key.startswith(service + "/")}
        return [
            str(target.get("revision"))
            for target in traffic
            if target.get("type") == shapes.REVISION and target.get("revision") not in known
        ]

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
        if "uri" not in service:
            parts = name.split("/")
            service["uri"] = self._url(name, None)
            service["urls"] = [service["uri"], f"https://{parts[-1]}-{PROJECT_NUMBER}.{parts[3]}.run.app"]
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
            "logUri": shapes.log_uri(revision),
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
            unknown = self._unknown_targets(name, service["traffic"])
            if error is None and unknown:
                message = (
                    f"Revision '{unknown[0]}' does not exist or is deleted. "
                    "Update all traffic to route to currently available revisions."
                )
                service["terminalCondition"] = shapes.condition("Ready", shapes.FAILED, message)
                error = {"code": shapes.INTERNAL_CODE, "message": message}
            current = service["generation"] == generation
            if error is None:
                self._route(service)
                if current:
                    service["observedGeneration"] = generation
            if current:  # a failure keeps observedGeneration and traffic on the last serving state
                service["reconciling"] = False
            self.operations[op_name] = shapes.operation(op_name, copy.deepcopy(service), done=True, error=error)

    def _start(self, revision: str) -> Outcome:
        with self.lock:
            if self.failing_revisions:
                message = self.failing_revisions.pop(0)
                return Failed("ContainerHealthy", message, {"revisionReason": shapes.HEALTH_CHECK_CONTAINER_ERROR})
            template = self.templates[revision]
            container = template["containers"][0]
            env: dict[str, str] = {}
            for index, item in enumerate(container.get("env", [])):
                reference = (item.get("valueSource") or {}).get("secretKeyRef")
                if reference is None:
                    env[item["name"]] = item.get("value", "")
                elif reference.get("secret") in self.denied_secrets:
                    return Failed("ContainerReady", _secret_denied(template, index, reference), _SECRET_FAILED)
                elif reference.get("secret") in self.secret_values:
                    env[item["name"]] = self.secret_values[reference["secret"]]
                else:
                    message = (
                        f"Secret projects/{PROJECT_NUMBER}/secrets/{reference.get('secret')}/versions/"
                        f"{reference.get('version', 'latest')} was not found"
                    )
                    return Failed("ContainerReady", message, _SECRET_FAILED)
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
        """Resolve traffic into trafficStatuses; each tag gets its own URL."""
        statuses: list[dict[str, Any]] = []
        for target in service["traffic"]:
            kind = target.get("type", shapes.LATEST)
            status: dict[str, Any] = {"type": kind, "percent": target.get("percent", 0)}
            if kind == shapes.REVISION:
                status["revision"] = target.get("revision", "")
            if target.get("tag"):
                status["tag"] = target["tag"]
                status["uri"] = self._url(service["name"], target["tag"])
            statuses.append(status)
        service["trafficStatuses"] = statuses

    def _url(self, service: str, tag: str | None) -> str:
        if (service, tag) not in self.urls:
            self.urls[(service, tag)] = self.open_url(service, tag)
        return self.urls[(service, tag)]

    def serving_revision(self, name: str, tag: str | None) -> str | None:
        """Where the front end sends a request: the tag's revision, or the one with the largest share."""
        service = self.services.get(name)
        if service is None:
            return None
        latest = _short(service.get("latestReadyRevision", ""))
        shares: dict[str, int] = {}
        for status in service.get("trafficStatuses", []):
            revision = status.get("revision") or latest
            if tag is not None and status.get("tag") == tag:
                return revision or None
            shares[revision] = shares.get(revision, 0) + status.get("percent", 0)
        if tag is not None:
            return None
        busiest = max(shares, key=lambda item: shares[item], default="")
        return busiest or None


_SECRET_FAILED = {"reason": shapes.SECRETS_ACCESS_CHECK_FAILED}


def _secret_denied(template: dict[str, Any], index: int, reference: dict[str, Any]) -> str:
    secret = (
        f"projects/{PROJECT_NUMBER}/secrets/{reference.get('secret')}/versions/{reference.get('version', 'latest')}"
    )
    return (
        f"spec.template.spec.containers[0].env[{index}].value_from.secret_key_ref.name: Permission denied on secret: "
        f"{secret} for Revision service account {template['serviceAccount']}. The service account used must be "
        "granted the 'Secret Manager Secret Accessor' role (roles/secretmanager.secretAccessor) at the secret, "
        "project or higher level."
    )


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _masked(current: dict[str, Any], body: dict[str, Any], mask: list[str]) -> dict[str, Any]:
    """The service as it is, with the masked fields taken from the request (or cleared when it leaves them out)."""
    unknown = [path for path in mask if path not in shapes.SERVICE_FIELDS]
    if unknown:
        raise ApiError(400, f"Invalid field mask: {', '.join(unknown)} is not a field of Service.")
    merged = {key: copy.deepcopy(value) for key, value in current.items() if key not in mask}
    merged.update({key: body[key] for key in mask if key in body})
    if body.get("etag"):
        merged["etag"] = body["etag"]
    else:
        merged.pop("etag", None)
    return merged


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


def _check_metadata(spec: dict[str, Any]) -> None:
    for field in ("labels", "annotations"):
        for key in (spec.get(field) or {}) | (spec["template"].get(field) or {}):
            prefix = key.split("/", 1)[0] if "/" in key else ""
            if prefix.endswith(_RESERVED_PREFIXES):
                raise ApiError(
                    400,
                    f"{field.rstrip('s').capitalize()} '{key}' uses a reserved namespace: Cloud Run API v2 does not "
                    "support run.googleapis.com, cloud.googleapis.com, serving.knative.dev, or "
                    "autoscaling.knative.dev.",
                )


def _check_images(template: dict[str, Any]) -> None:
    for container in template.get("containers", []):
        image = container.get("image", "")
        first = image.split("/", 1)[0]
        named_host = "/" in image and ("." in first or ":" in first or first == "localhost")
        if not _PULLABLE.match(image if named_host else f"docker.io/{image}"):
            raise ApiError(
                400,
                f"Expected an image path like [host/]repo-path[:tag and/or @digest], where host is one of "
                f"[region.]gcr.io, [region-]docker.pkg.dev or docker.io but obtained {image}",
            )
