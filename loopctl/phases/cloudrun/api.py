"""The Cloud Run Admin API as loopctl uses it: one client, visible retries, one-line errors, operations awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from loopctl.config import CloudRunConfig, Config
from loopctl.errors import LoopctlError
from loopctl.runner import Context

if TYPE_CHECKING:
    from google.api_core.exceptions import GoogleAPICallError
    from google.cloud import run_v2
    from google.longrunning import operations_pb2

T = TypeVar("T")
MAX_RETRIES = 5
ADC_HINT = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key"
_SUCCEEDED = 4  # Condition.State
_TIMEOUT_HINT = "raise deploy.cloudrun.deadline_s, or look at the service in the Cloud Run console"


class Deadline:
    """A point in time the whole phase must finish by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0


class CloudRunApi:
    """Services and revisions of one Cloud Run location, every call retried on 429/503 with a logged backoff."""

    def __init__(
        self,
        config: CloudRunConfig,
        *,
        log: Callable[[str], None],
        deadline: Deadline,
        poll_s: float = 2.0,
        backoff_s: float = 1.0,
    ) -> None:
        self.config = config
        self.log = log
        self.deadline = deadline
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.retries = 0  # 429/503 answers retried so far: the record keeps the count
        self.services, self.revisions = _clients(config)

    @property
    def service_name(self) -> str:
        config = self.config
        return f"projects/{config.project}/locations/{config.region}/services/{config.service}"

    def find_service(self) -> run_v2.Service | None:
        """The service as it is now, or None when it does not exist."""
        from google.api_core import exceptions

        try:
            return self.call("get service", lambda: self.services.get_service(name=self.service_name, retry=None))
        except LoopctlError as err:
            if isinstance(err.__cause__, exceptions.NotFound):
                return None
            raise

    def write_service(self, service: run_v2.Service, *, create: bool) -> str:
        """Create or update (the etag in `service` guards against lost updates); returns the operation's name."""
        if create:
            parent = self.service_name.rsplit("/services/", 1)[0]
            operation = self.call(
                "create service",
                lambda: self.services.create_service(
                    parent=parent, service=service, service_id=self.config.service, retry=None
                ),
            )
        else:
            service.name = self.service_name
            operation = self.call("update service", lambda: self.services.update_service(service=service, retry=None))
        return str(operation.operation.name)

    def wait_operation(self, name: str, show: Callable[[run_v2.Service], None]) -> operations_pb2.Operation:
        """Poll the long-running operation until done, showing the Service it carries as metadata."""
        from google.cloud import run_v2

        while True:
            found = self.call("get operation", lambda: self.services.get_operation(request={"name": name}, retry=None))
            if found.HasField("metadata"):
                show(run_v2.Service.deserialize(found.metadata.value))
            if found.done:
                return found
            self._pause("the deploy operation did not finish")

    def settled_service(self) -> run_v2.Service:
        """The service once Cloud Run has acted on its latest generation: only then are its fields true."""
        while True:
            service = self.find_service()
            if service is None:
                raise LoopctlError(f"service {self.config.service} disappeared while deploying", kind="not_found")
            if service.observed_generation == service.generation and not service.reconciling:
                return service
            self._pause(f"the service did not settle on generation {service.generation}")

    def get_revision(self, name: str) -> run_v2.Revision:
        return self.call("get revision", lambda: self.revisions.get_revision(name=name, retry=None))

    def call(self, what: str, request: Callable[[], T]) -> T:
        """One API call; 429 and 503 are retried with exponential backoff, each retry shown live."""
        from google.api_core import exceptions
        from google.auth import exceptions as auth_exceptions
        from requests import exceptions as http_exceptions

        for attempt in range(MAX_RETRIES + 1):
            try:
                return request()
            except (exceptions.TooManyRequests, exceptions.ServiceUnavailable) as err:
                delay = min(self.backoff_s * 2**attempt, self.deadline.remaining())
                if attempt == MAX_RETRIES or delay <= 0:
                    raise api_error(what, err) from err
                self.log(
                    f"{what}: {err.code} {server_message(err)} — retry {attempt + 1}/{MAX_RETRIES} in {delay:.1f}s"
                )
                self.retries += 1
                time.sleep(delay)
            except exceptions.GoogleAPICallError as err:
                raise api_error(what, err) from err
            except auth_exceptions.GoogleAuthError as err:
                raise LoopctlError(f"Cloud Run API: {what}: {err}", hint=ADC_HINT, kind="credentials") from err
            except http_exceptions.ConnectionError as err:
                raise LoopctlError(
                    f"Cloud Run API: {what}: cannot connect to {self.config.api_endpoint or 'run.googleapis.com'}",
                    hint="check deploy.cloudrun.api_endpoint and the network",
                    kind="api_unreachable",
                ) from err
        raise AssertionError("unreachable")

    def _pause(self, waiting_for: str) -> None:
        if self.deadline.expired():
            raise LoopctlError(
                f"{waiting_for} within the {self.deadline.seconds:g}s deadline",
                hint=_TIMEOUT_HINT,
                kind="deploy_timeout",
            )
        time.sleep(min(self.poll_s, self.deadline.remaining()))


def _clients(config: CloudRunConfig) -> tuple[run_v2.ServicesClient, run_v2.RevisionsClient]:
    """REST clients: anonymous against an emulator's api_endpoint, Application Default Credentials otherwise."""
    from google.auth import exceptions as auth_exceptions
    from google.cloud import run_v2

    options: dict[str, Any] = {}
    credentials: Any = None
    if config.api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        options["api_endpoint"] = config.api_endpoint
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    try:
        return (
            run_v2.ServicesClient(transport="rest", client_options=options, credentials=credentials),
            run_v2.RevisionsClient(transport="rest", client_options=options, credentials=credentials),
        )
    except auth_exceptions.DefaultCredentialsError as err:
        raise LoopctlError(
            f"no Google Cloud credentials to deploy with: {server_text(str(err))}", hint=ADC_HINT, kind="credentials"
        ) from err


_HINTS: list[tuple[str, str, str]] = [
    # (exception class name, kind, hint), most specific first
    (
        "Forbidden",  # PermissionDenied over gRPC is a subclass
        "permission_denied",
        "the deploying identity needs roles/run.developer (and roles/iam.serviceAccountUser on the runtime account)",
    ),
    ("Unauthorized", "credentials", ADC_HINT),
    ("NotFound", "not_found", "check deploy.cloudrun.project, region and service (allow_missing: true creates it)"),
    ("AlreadyExists", "conflict", "a revision with that name exists: leave template.revision empty"),
    ("Conflict", "conflict", "the service changed while loopctl was deploying it: run again"),
    ("TooManyRequests", "api_unavailable", "Cloud Run kept answering 429: wait a minute and run again"),
    ("ServiceUnavailable", "api_unavailable", "Cloud Run kept answering 503: wait a minute and run again"),
    ("BadRequest", "invalid_request", "check the deploy.cloudrun block of config.yaml"),
]


def api_error(what: str, err: GoogleAPICallError) -> LoopctlError:
    """One line: what was asked, the status, and Google's own words; with the kind and hint of its class."""
    names = {klass.__name__ for klass in type(err).__mro__}
    kind, hint = next(((kind, hint) for name, kind, hint in _HINTS if name in names), ("api_error", ""))
    status = f"{err.code} " if err.code else ""
    return LoopctlError(f"Cloud Run API: {what}: {status}{server_message(err)}", hint=hint, kind=kind)


def server_message(err: GoogleAPICallError) -> str:
    """The server's message without the client's `METHOD URL:` prefix."""
    response: Any = getattr(err, "response", None)
    try:
        text = str(response.json()["error"]["message"])
    except Exception:
        text = str(err.message)
    return server_text(text)


def server_text(text: str) -> str:
    from loopctl.secrets import redact

    return redact((text.strip().splitlines() or [""])[0])


def cloudrun_config(config: Config) -> CloudRunConfig:
    if config.deploy is None or config.deploy.cloudrun is None:
        raise LoopctlError("no deploy.cloudrun block in the config", hint="add one (see README)", kind="usage")
    return config.deploy.cloudrun


def connect(ctx: Context, phase: str, config: CloudRunConfig, *, poll_s: float, backoff_s: float) -> CloudRunApi:
    return CloudRunApi(
        config,
        log=lambda line: ctx.log(phase, line),
        deadline=Deadline(config.deadline_s),
        poll_s=poll_s,
        backoff_s=backoff_s,
    )


class ConditionLog:
    """Shows what the operation's Service says as it changes: each message once, quiet sub-conditions that are fine."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show
        self.seen: set[str] = set()

    def __call__(self, service: run_v2.Service) -> None:
        for position, condition in enumerate([service.terminal_condition, *service.conditions]):
            text = condition.message or condition.state.name.removeprefix("CONDITION_").lower()
            quiet = position > 0 and condition.state == _SUCCEEDED
            if condition.type_ and not quiet and text not in self.seen:
                self.seen.add(text)
                self.show(f"{condition.type_}: {text}")
