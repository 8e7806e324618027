"""The error body every Google REST API in tests/support answers with: a google.rpc.Status as JSON.

Shapes, one line each, with their source:
- `{"error": {"code", "message", "status"}}`, `code` the HTTP status, `status` the google.rpc.Code name:
  https://cloud.google.com/apis/design/errors#http_mapping (the table below is that page's, one name per status)
Assumed: 412 as FAILED_PRECONDITION (no google.rpc code maps to HTTP 412; an etag precondition failure is
FAILED_PRECONDITION in the same table).
"""

from __future__ import annotations

from typing import Any

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_error(code: int, message: str, *, status: str | None = None) -> dict[str, Any]:
    """`{"error": {...}}` for HTTP `code`; `status` names the google.rpc code where the table's is not the one meant."""
    return {"error": {"code": code, "message": message, "status": status or STATUS_NAMES.get(code, "UNKNOWN")}}
