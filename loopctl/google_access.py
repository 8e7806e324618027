"""Credentials for Google API clients: Application Default Credentials, anonymous only for an http:// emulator.

ADC covers a user login, a service account key, impersonation (`gcloud auth application-default login
--impersonate-service-account`) and Workload Identity Federation (an `external_account` credentials file).
"""

from __future__ import annotations

from typing import Any

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
