"""Cloud Build and Cloud Storage as the builder uses them: one client each, visible retries, one-line errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from loopctl.clients.google import (
    ADC_HINT,
    access_error,
    access_failures,
    busy_hints,
    class_hint,
    client_settings,
    with_credentials,
)
from loopctl.clients.google import server_message as _server_message
from loopctl.config import CloudBuildConfig
from loopctl.errors import ErrorKind, LoopctlError

if TYPE_CHECKING:
    from google.api_core.exceptions import GoogleAPICallError
    from google.cloud.devtools import cloudbuild_v1
    from google.cloud.storage import Client as StorageClient

T = TypeVar("T")
MAX_RETRIES = 5


class CloudBuildApi:
    """The Cloud Build and Cloud Storage clients of one project; every call retried on 429/503 with a logged backoff."""

    def __init__(self, config: CloudBuildConfig, *, log: Callable[[str], None], backoff_s: float = 1.0) -> None:
        self.config = config
        self.log = log
        self.backoff_s = backoff_s
        self.retries = 0  # 429/503 answers retried so far: the record keeps the count
        self.builds = _build_client(config)
        self.storage = _storage_client(config)

    @property
    def location(self) -> str:
        return f"projects/{self.config.project}/locations/{self.config.region}"

    def create(self, build: cloudbuild_v1.Build) -> cloudbuild_v1.Build:
        """Submit; the long-running operation's metadata carries the queued build (its id, its log bucket)."""
        operation = self.call(
            "Cloud Build",
            "submit build",
            lambda: self.builds.create_build(request={**self._where(), "build": build}, retry=None),
        )
        built: cloudbuild_v1.Build = operation.metadata.build
        return built

    def get(self, build_id: str) -> cloudbuild_v1.Build:
        return self.call(
            "Cloud Build",
            "get build",
            lambda: self.builds.get_build(request=self._named(build_id), retry=None),
            read=True,
        )

    def cancel(self, build_id: str) -> cloudbuild_v1.Build:
        return self.call(
            "Cloud Build", "cancel build", lambda: self.builds.cancel_build(request=self._named(build_id), retry=None)
        )

    def default_account(self) -> str:
        """The account builds run as when none is named (GetDefaultServiceAccount): the legacy Cloud Build account,
        or since 2024 Compute Engine's default one; "" when it cannot be read (only hints and doctor use it)."""
        location = (
            self.location if self.config.region != "global" else f"projects/{self.config.project}/locations/global"
        )
        try:
            found = self.call(
                "Cloud Build",
                "get the default service account",
                lambda: self.builds.get_default_service_account(
                    request={"name": f"{location}/defaultServiceAccount"}, retry=None
                ),
                read=True,
            )
        except LoopctlError:
            return ""
        return str(found.service_account_email).rsplit("/", 1)[-1]

    def _where(self) -> dict[str, Any]:
        # Only `parent` for a region: the client then takes the regional URL (`/v1/projects/P/locations/R/builds`).
        if self.config.region != "global":
            return {"parent": self.location}
        return {"project_id": self.config.project}

    def _named(self, build_id: str) -> dict[str, str]:
        if self.config.region != "global":
            return {"name": f"{self.location}/builds/{build_id}"}
        return {"project_id": self.config.project, "id": build_id}

    def call(self, service: str, what: str, request: Callable[[], T], *, read: bool = False) -> T:
        """One API call; 429 and 503 are retried with exponential backoff, each retry shown live. A `read` is also
        retried on 500 and 504 (DEADLINE_EXCEEDED): asking again changes nothing, as Google's GetBuild policy has it."""
        from google.api_core import exceptions

        transient: tuple[type[Exception], ...] = (exceptions.TooManyRequests, exceptions.ServiceUnavailable)
        if read:
            transient += (exceptions.InternalServerError, exceptions.GatewayTimeout)
        for attempt in range(MAX_RETRIES + 1):
            try:
                return request()
            except transient as err:
                assert isinstance(err, exceptions.GoogleAPICallError)
                if attempt == MAX_RETRIES:
                    raise api_error(service, what, err) from err
                delay = self.backoff_s * 2**attempt
                self.log(f"{what}: {err.code} {server_message(err)} — retry {attempt + 1}/{MAX_RETRIES} in {delay:g}s")
                self.retries += 1
                time.sleep(delay)
            except exceptions.GoogleAPICallError as err:
                raise api_error(service, what, err) from err
            except access_failures() as err:
                raise access_error(
                    f"{service}: {what}",
                    err,
                    endpoint=self._endpoint(service),
                    hint="check build.cloudbuild.api_endpoint / storage_endpoint and the network",
                ) from err
        raise AssertionError("unreachable")

    def _endpoint(self, service: str) -> str:
        if service == "Cloud Storage":
            return self.config.storage_endpoint or "storage.googleapis.com"
        return self.config.api_endpoint or "cloudbuild.googleapis.com"


def _build_client(config: CloudBuildConfig) -> cloudbuild_v1.CloudBuildClient:
    from google.cloud.devtools import cloudbuild_v1

    credentials, options = client_settings(config.api_endpoint)
    return with_credentials(
        lambda: cloudbuild_v1.CloudBuildClient(transport="rest", client_options=options, credentials=credentials),
        doing="build with",
    )


def _storage_client(config: CloudBuildConfig) -> StorageClient:
    from google.cloud import storage

    credentials, options = client_settings(config.storage_endpoint)
    return with_credentials(
        lambda: storage.Client(project=config.project, credentials=credentials, client_options=options),
        doing="build with",
    )


_HINTS: list[tuple[str, ErrorKind, str]] = [
    # (exception class name, kind, hint), most specific first
    (
        "Forbidden",
        ErrorKind.PERMISSION_DENIED,
        "loopctl's identity needs roles/cloudbuild.builds.editor, and roles/storage.admin on the source bucket",
    ),
    ("Unauthorized", ErrorKind.CREDENTIALS, ADC_HINT),
    (
        "NotFound",
        ErrorKind.NOT_FOUND,
        "check build.cloudbuild.project and region (and that the Cloud Build API is enabled)",
    ),
    *busy_hints("Google"),
    ("BadRequest", ErrorKind.INVALID_REQUEST, "check the build.cloudbuild block of config.yaml"),
]


def api_error(service: str, what: str, err: GoogleAPICallError) -> LoopctlError:
    """One line: what was asked, the status, and Google's own words; with the kind and hint of its class."""
    kind, hint = class_hint(err, _HINTS)
    status = f"{err.code} " if err.code else ""
    return LoopctlError(f"{service}: {what}: {status}{server_message(err)}", hint=hint, kind=kind)


def server_message(err: GoogleAPICallError) -> str:
    """The server's message without the client's `METHOD URL:` prefix, clipped like every text a build sends."""
    return _server_message(err)
