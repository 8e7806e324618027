"""Google API clients as loopctl makes them, and the failures every Google API shares, as one-line errors.

Credentials are Application Default Credentials, anonymous only for an http:// emulator. ADC covers a user login, a
service account key, impersonation (`gcloud auth application-default login --impersonate-service-account`) and
Workload Identity Federation (an `external_account` credentials file). Cloud Run, Cloud Build and Cloud Logging all
build their clients here; each keeps its own retry policy and its own table of API error hints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.outside_text import REASON_LIMIT, first_line

T = TypeVar("T")
ADC_HINT = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a credentials file"


def client_settings(endpoint: str | None) -> tuple[Any, dict[str, Any]]:
    """(credentials, client_options) for a client of `endpoint`; credentials None means ADC, found by the client."""
    options: dict[str, Any] = {}
    credentials: Any = None
    if endpoint:
        options["api_endpoint"] = endpoint
        if is_emulator(endpoint):
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    return credentials, options


def is_emulator(endpoint: str | None) -> bool:
    """Only a plain-http endpoint is an emulator: tokens never travel unencrypted, and https always authenticates."""
    return bool(endpoint) and str(endpoint).startswith("http://")


def with_credentials(make: Callable[[], T], *, doing: str) -> T:
    """The client `make` builds; no credentials found is one line saying what they were wanted for."""
    from google.auth import exceptions as auth_exceptions

    try:
        return make()
    except auth_exceptions.DefaultCredentialsError as err:
        raise LoopctlError(
            f"no Google Cloud credentials to {doing}: {server_text(str(err))}",
            hint=ADC_HINT,
            kind=ErrorKind.CREDENTIALS,
        ) from err


def access_failures() -> tuple[type[Exception], ...]:
    """What fails a call before any API answers: credentials that do not work, an endpoint that cannot be reached."""
    from google.auth import exceptions as auth_exceptions
    from requests import exceptions as http_exceptions

    return (auth_exceptions.GoogleAuthError, http_exceptions.ConnectionError)


def access_error(where: str, err: Exception, *, endpoint: str, hint: str) -> LoopctlError:
    """One of `access_failures()` as one line; `where` is `<API>: <what was asked>`, `hint` says what to check when
    `endpoint` cannot be reached."""
    from google.auth import exceptions as auth_exceptions

    if isinstance(err, auth_exceptions.GoogleAuthError):
        return LoopctlError(f"{where}: {server_text(str(err))}", hint=ADC_HINT, kind=ErrorKind.CREDENTIALS)
    return LoopctlError(f"{where}: cannot connect to {endpoint}", hint=hint, kind=ErrorKind.API_UNREACHABLE)


def busy_hints(who: str) -> list[tuple[str, ErrorKind, str]]:
    """The hint-table rows for an API that stayed busy through every retry (429, 503, 500, 504): one wording."""
    return [
        (name, ErrorKind.API_UNAVAILABLE, f"{who} kept answering {status}: wait a minute and run again")
        for name, status in (
            ("TooManyRequests", 429),
            ("ServiceUnavailable", 503),
            ("InternalServerError", 500),
            ("GatewayTimeout", 504),
        )
    ]


def class_hint(err: BaseException, hints: list[tuple[str, ErrorKind, str]]) -> tuple[ErrorKind, str]:
    """(kind, hint) of the first (exception class name, kind, hint) row naming a class of `err`."""
    names = {klass.__name__ for klass in type(err).__mro__}
    return next(((kind, hint) for name, kind, hint in hints if name in names), (ErrorKind.API_ERROR, ""))


def error_body(response: Any) -> dict[str, Any]:
    """The `error` object of Google's JSON error body ({code, message, status, details}), {} when there is none."""
    try:
        body = response.json()["error"]
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


def server_message(err: Exception, *, limit: int = REASON_LIMIT) -> str:
    """The server's message without the client's `METHOD URL:` prefix."""
    body = error_body(getattr(err, "response", None))
    text = str(body["message"]) if "message" in body else str(getattr(err, "message", err))
    return server_text(text, limit=limit)


def server_text(text: str, *, limit: int = REASON_LIMIT) -> str:
    """The first line of what a server or client library said, through the outside-text boundary."""
    return first_line(text, limit)
