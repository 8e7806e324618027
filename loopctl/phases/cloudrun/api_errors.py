"""Cloud Run Admin API errors, one line each, with the kind and hint Google's error body (status, ErrorInfo) picks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopctl.clients.google import ADC_HINT, busy_hints, class_hint, error_body, server_message
from loopctl.errors import ErrorKind, LoopctlError

if TYPE_CHECKING:
    from google.api_core.exceptions import GoogleAPICallError


def etag_race(err: GoogleAPICallError) -> bool:
    """A stale etag. The docs do not say which code Cloud Run sends: AIP-154 asks for ABORTED (409), other Google
    APIs answer FAILED_PRECONDITION (400) or HTTP 412; all three mean "read it again"."""
    from google.api_core import exceptions

    return isinstance(err, exceptions.PreconditionFailed) or error_status(err) in ("ABORTED", "FAILED_PRECONDITION")


_ROLE_HINT = (
    "the deploying identity needs roles/run.developer (and roles/iam.serviceAccountUser on the runtime account)"
)
_HINTS: list[tuple[str, ErrorKind, str]] = [
    # (exception class name, kind, hint), most specific first
    ("Forbidden", ErrorKind.PERMISSION_DENIED, _ROLE_HINT),  # PermissionDenied over gRPC is a subclass
    ("Unauthorized", ErrorKind.CREDENTIALS, ADC_HINT),
    (
        "NotFound",
        ErrorKind.NOT_FOUND,
        "check deploy.cloudrun.project, region and service (allow_missing: true creates it)",
    ),
    ("Conflict", ErrorKind.CONFLICT, "the service changed while loopctl was deploying it: run again"),
    *busy_hints("Cloud Run"),
    ("BadRequest", ErrorKind.INVALID_REQUEST, "check the deploy.cloudrun block of config.yaml"),
]
# google.rpc.Status.status of a REST error body: REST maps several of them to one HTTP status (409: both).
_STATUS_HINTS = {
    "ABORTED": (ErrorKind.CONFLICT, "the service changed while loopctl was writing it (etag race): run again"),
    "ALREADY_EXISTS": (ErrorKind.CONFLICT, "a revision with that name exists: run again, loopctl picks a new name"),
}
# The permission Google names in ErrorInfo.metadata, and the predefined role that grants it.
_ROLES = {
    "iam.serviceaccounts.actas": "roles/iam.serviceAccountUser on the runtime service account",
    "run.services.setiampolicy": "roles/run.admin",
    "run.services.getiampolicy": "roles/run.admin",
}


def api_error(what: str, err: GoogleAPICallError, *, project: str = "") -> LoopctlError:
    """One line: what was asked, the status, and Google's own words; kind and hint from the error body's
    ErrorInfo reason and status when it has them, else from the exception class."""
    kind, hint = class_hint(err, _HINTS)
    kind, hint = _STATUS_HINTS.get(error_status(err), (kind, hint))
    if etag_race(err):
        kind, hint = _STATUS_HINTS["ABORTED"]
    reason, metadata = error_info(err)
    if reason == "SERVICE_DISABLED":
        where = metadata.get("consumer", "").removeprefix("projects/") or project
        service = metadata.get("service", "run.googleapis.com")
        kind, hint = (
            ErrorKind.API_DISABLED,
            f"enable {service} in project {where}: `gcloud services enable {service} --project {where}`",
        )
    elif reason == "IAM_PERMISSION_DENIED":
        permission = metadata.get("permission", "")
        role = _ROLES.get(permission.lower(), "roles/run.developer")
        kind, hint = (
            ErrorKind.PERMISSION_DENIED,
            f"grant the deploying identity {role}" + (f" ({permission})" if permission else ""),
        )
        if permission.lower() == "run.services.setiampolicy":
            hint += "; it turns the invoker check off for deploy.cloudrun.public: true (or set public: false)"
    status = f"{err.code} " if err.code else ""
    return LoopctlError(f"Cloud Run API: {what}: {status}{server_message(err)}", hint=hint, kind=kind)


def error_status(err: GoogleAPICallError) -> str:
    """`error.status` of Google's JSON error body (ABORTED, ALREADY_EXISTS, ...), or the gRPC status name."""
    status = error_body(getattr(err, "response", None)).get("status")
    if isinstance(status, str):
        return status
    grpc_status = getattr(err, "grpc_status_code", None)
    return str(grpc_status.name) if grpc_status is not None else ""


def error_info(err: GoogleAPICallError) -> tuple[str, dict[str, str]]:
    """The google.rpc.ErrorInfo detail of the error body: its reason and metadata."""
    for detail in error_body(getattr(err, "response", None)).get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo":
            metadata = detail.get("metadata") if isinstance(detail.get("metadata"), dict) else {}
            return str(detail.get("reason", "")), {str(k): str(v) for k, v in (metadata or {}).items()}
    return "", {}
