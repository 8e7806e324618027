"""The Cloud Run emulator's JSON against the installed client's own types, and API errors as Google sends them.

The REST client reads answers with `ignore_unknown_fields=True`: a field the emulator misspells is dropped without a
word, so the integration tests would keep passing while the emulator drifted from the v2 shape. Here every Service,
Revision and Operation the control plane answers is parsed strictly into `run_v2` types.

Error bodies, one per line:
- SERVICE_DISABLED with a google.rpc.Help detail before the ErrorInfo: as quoted in
  terraform-google-modules/terraform-google-project-factory#710.
- SERVICE_DISABLED with serviceTitle, containerInfo and activationUrl in the ErrorInfo metadata: as quoted in
  google-gemini/gemini-cli#1343.
- A 403 answered by Google's front end as an HTML page, not JSON: the shape of tests/support/cloudrun_frontend.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import json_format

from loopctl.phases.cloudrun import api, spec
from loopctl.phases.cloudrun.api_errors import api_error
from tests.support import cloudrun_shapes as shapes
from tests.support.cloudrun_containers import Started
from tests.support.cloudrun_state import ControlPlane

SERVICE = "projects/p/locations/europe-west1/services/chat"
IMAGE = "europe-docker.pkg.dev/p/r/chat@sha256:" + "a" * 64


def strict(answer: dict[str, Any], kind: Any) -> Any:
    """`answer` parsed into `kind` the way the client would, except that an unknown field fails."""
    if kind is operations_pb2.Operation:
        return json_format.Parse(json.dumps(answer), kind(), ignore_unknown_fields=False)
    return kind.wrap(json_format.Parse(json.dumps(answer), kind.pb(kind()), ignore_unknown_fields=False))


def settled(plane: ControlPlane) -> None:
    for worker in list(plane.workers):
        worker.join(timeout=10)


def plane() -> ControlPlane:
    return ControlPlane(lambda revision, image, env, port: Started(host_port=1), lambda name, tag: f"http://{tag}")


def body(**template: Any) -> dict[str, Any]:
    """A Service as the REST client sends it (`use_integers_for_enums`)."""
    service = run_v2.Service(
        template=run_v2.RevisionTemplate(containers=[run_v2.Container(image=IMAGE)], **template),
        traffic=[
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
                percent=100,
                tag="preview",
            )
        ],
    )
    return dict(json.loads(run_v2.Service.to_json(service, use_integers_for_enums=True)))


def test_a_ready_service_its_revision_and_operation_are_v2_shapes() -> None:
    control = plane()
    operation = control.write_service(SERVICE, body(), create=True, allow_missing=False)
    settled(control)
    service = strict(control.get_service(SERVICE), run_v2.Service)
    assert service.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
    assert service.traffic_statuses[0].tag == "preview" and service.latest_ready_revision
    revision = strict(control.get_revision(service.latest_ready_revision), run_v2.Revision)
    assert revision.log_uri and revision.conditions[0].type_ == "Ready"
    done = strict(control.get_operation(operation["name"]), operations_pb2.Operation)
    assert done.done and done.response.type_url == shapes.SERVICE_TYPE
    assert run_v2.Service.deserialize(done.metadata.value).generation == service.generation


def test_a_failed_revision_and_its_operation_are_v2_shapes() -> None:
    control = plane()
    control.failing_revisions.append(shapes.PORT_MESSAGE.format(port=8080))
    operation = control.write_service(SERVICE, body(), create=True, allow_missing=False)
    settled(control)
    service = strict(control.get_service(SERVICE), run_v2.Service)
    assert service.terminal_condition.reason == run_v2.Condition.CommonReason.REVISION_FAILED
    revision = strict(control.get_revision(service.latest_created_revision), run_v2.Revision)
    reasons = [condition.revision_reason for condition in revision.conditions]
    assert run_v2.Condition.RevisionReason.HEALTH_CHECK_CONTAINER_ERROR in reasons
    failed = strict(control.get_operation(operation["name"]), operations_pb2.Operation)
    assert failed.error.code == shapes.FAILED_PRECONDITION_CODE and "PORT=8080" in failed.error.message


def answered(status: int, payload: str, content_type: str = "application/json; charset=UTF-8") -> Exception:
    """What google-api-core makes of one HTTP answer, as the REST transport would raise it."""
    response = requests.Response()
    response.status_code = status
    response._content = payload.encode()
    response.headers["Content-Type"] = content_type
    response.request = requests.Request("GET", "https://run.googleapis.com/v2/" + SERVICE).prepare()
    return exceptions.from_http_response(response)


DISABLED = "Cloud Run Admin API has not been used in project 123456789012 before or it is disabled."
HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [{"description": "Google developers console API activation", "url": "https://console.example"}],
}


@pytest.mark.parametrize(
    "details",
    [
        [
            HELP,
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "domain": "googleapis.com",
                "metadata": {"consumer": "projects/123456789012", "service": "run.googleapis.com"},
                "reason": "SERVICE_DISABLED",
            },
        ],
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {
                    "serviceTitle": "Cloud Run Admin API",
                    "consumer": "projects/123456789012",
                    "containerInfo": "123456789012",
                    "service": "run.googleapis.com",
                    "activationUrl": "https://console.example",
                },
            },
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": DISABLED},
            HELP,
        ],
    ],
)
def test_a_disabled_api_as_google_words_it_says_how_to_enable_it(details: list[dict[str, Any]]) -> None:
    payload = {"error": {"code": 403, "message": DISABLED, "status": "PERMISSION_DENIED", "details": details}}
    err = answered(403, json.dumps(payload))
    assert isinstance(err, exceptions.GoogleAPICallError)
    found = api_error("get service", err, project="loop-proj")
    assert (found.kind, found.message) == ("api_disabled", f"Cloud Run API: get service: 403 {DISABLED}")
    assert "`gcloud services enable run.googleapis.com --project 123456789012`" in found.hint


def test_an_html_403_from_the_front_end_is_still_one_line() -> None:
    page = "<html><head><title>403 Forbidden</title></head>\n<body>Your client does not have permission</body></html>"
    err = answered(403, page, "text/html; charset=UTF-8")
    assert isinstance(err, exceptions.GoogleAPICallError)
    found = api_error("get service", err)
    assert found.kind == "permission_denied" and "\n" not in found.message
    assert found.message.startswith("Cloud Run API: get service: 403 ")


def test_the_enum_numbers_written_by_hand_are_the_clients() -> None:
    """Enums travel as numbers; loopctl and the emulator spell them out to avoid importing run_v2, so a wrong
    number would be agreed on by both sides and pass every other test."""
    state, kind, ingress = run_v2.Condition.State, run_v2.TrafficTargetAllocationType, run_v2.IngressTraffic
    assert (api.CONDITION_FAILED, api.CONDITION_SUCCEEDED) == (state.CONDITION_FAILED, state.CONDITION_SUCCEEDED)
    assert (spec._LATEST, spec._BY_NAME) == (
        kind.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
        kind.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
    )
    assert spec._INGRESS == {
        "all": ingress.INGRESS_TRAFFIC_ALL,
        "internal": ingress.INGRESS_TRAFFIC_INTERNAL_ONLY,
        "internal-and-cloud-load-balancing": ingress.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER,
    }
    assert (shapes.LATEST, shapes.REVISION, shapes.INGRESS_ALL) == (
        kind.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
        kind.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
        ingress.INGRESS_TRAFFIC_ALL,
    )
    assert (shapes.PENDING, shapes.RECONCILING, shapes.FAILED, shapes.SUCCEEDED) == (
        state.CONDITION_PENDING,
        state.CONDITION_RECONCILING,
        state.CONDITION_FAILED,
        state.CONDITION_SUCCEEDED,
    )
    assert (shapes.ERROR, shapes.INFO) == (run_v2.Condition.Severity.ERROR, run_v2.Condition.Severity.INFO)
    reason = run_v2.Condition.CommonReason
    assert (shapes.REVISION_FAILED, shapes.CONTAINER_MISSING, shapes.SECRETS_ACCESS_CHECK_FAILED) == (
        reason.REVISION_FAILED,
        reason.CONTAINER_MISSING,
        reason.SECRETS_ACCESS_CHECK_FAILED,
    )
    assert shapes.HEALTH_CHECK_CONTAINER_ERROR == run_v2.Condition.RevisionReason.HEALTH_CHECK_CONTAINER_ERROR


def rpc_error(code: int, status: str, message: str, *details: dict[str, Any]) -> str:
    return json.dumps({"error": {"code": code, "message": message, "status": status, "details": list(details)}})


@pytest.mark.parametrize(
    ("code", "payload", "kind", "hint"),
    [
        (409, rpc_error(409, "ABORTED", "etag mismatch"), "conflict", "etag race"),
        (409, rpc_error(409, "ALREADY_EXISTS", "Revision named 'x' exists"), "conflict", "loopctl picks a new name"),
        (
            403,
            rpc_error(
                403,
                "PERMISSION_DENIED",
                "Permission 'run.services.setIamPolicy' denied",
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "domain": "iam.googleapis.com",
                    "metadata": {"permission": "run.services.setIamPolicy"},
                },
            ),
            "permission_denied",
            "grant the deploying identity roles/run.admin (run.services.setIamPolicy)",
        ),
        (
            401,
            rpc_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
            "credentials",
            "gcloud auth",
        ),
        (429, rpc_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), "api_unavailable", "429"),
        (400, rpc_error(400, "INVALID_ARGUMENT", "bad template"), "invalid_request", "deploy.cloudrun"),
    ],
    ids=["aborted", "already-exists", "iam-permission", "unauthenticated", "quota", "invalid"],
)
def test_each_google_status_gets_its_kind_and_hint(code: int, payload: str, kind: str, hint: str) -> None:
    """The status name decides between 409s; the class google-api-core picks from the HTTP status does the rest."""
    err = answered(code, payload)
    assert isinstance(err, exceptions.GoogleAPICallError)
    found = api_error("update service", err)
    assert found.kind == kind and hint in found.hint
    assert found.message.startswith(f"Cloud Run API: update service: {code} ")
