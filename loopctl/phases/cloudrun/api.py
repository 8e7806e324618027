"""The Cloud Run Admin API as loopctl uses it: one client, visible retries, one-line errors, operations awaited."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loopctl.clients.google import access_error, access_failures, client_settings, server_message, with_credentials
from loopctl.config import CloudRunConfig, Config
from loopctl.errors import ErrorKind, LoopctlError, UsageError
from loopctl.phases.base import Context
from loopctl.phases.cloudrun.api_errors import api_error, error_status, etag_race

if TYPE_CHECKING:
    from google.cloud import run_v2
    from google.longrunning import operations_pb2

T = TypeVar("T")
MAX_RETRIES = 5
CALL_TIMEOUT_S = 60.0  # one request; the deadline bounds it further
CONDITION_FAILED, CONDITION_SUCCEEDED = 3, 4  # Condition.State, without importing run_v2
_TIMEOUT_HINT = "raise deploy.cloudrun.ready_timeout, or look at the service in the Cloud Run console"


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
    """Services and revisions of one Cloud Run location: every call bounded by the deadline, failures read from
    Google's error body, reads retried with a logged backoff, writes retried only after re-reading the service."""

    def __init__(
        self,
        config: CloudRunConfig,
        *,
        log: Callable[[str], None],
        deadline: Deadline,
        poll_s: float = 2.0,
        backoff_s: float = 1.0,
        call_timeout_s: float = CALL_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.call_timeout_s = call_timeout_s
        self.log = log
        self.deadline = deadline
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.retries = 0  # answers retried so far: the record keeps the count
        self.services, self.revisions = _clients(config)

    @property
    def service_name(self) -> str:
        config = self.config
        return f"projects/{config.project}/locations/{config.region}/services/{config.service}"

    def find_service(self) -> run_v2.Service | None:
        """The service as it is now, or None when it does not exist."""
        from google.api_core import exceptions

        try:
            return self.call(
                "get service",
                lambda timeout: self.services.get_service(name=self.service_name, retry=None, timeout=timeout),
            )
        except LoopctlError as err:
            if isinstance(err.__cause__, exceptions.NotFound):
                return None
            raise

    def write_fresh(
        self,
        wanted: Callable[[run_v2.Service | None], run_v2.Service],
        first: run_v2.Service | None,
        *,
        fields: Sequence[str] = (),
    ) -> tuple[str, run_v2.Service | None]:
        """Create or update the service `wanted(current)` describes; returns the operation's name and the service it
        replaced. `fields` limits an update to those top-level fields (the update mask). A write that failed in a way
        worth retrying (etag race, 5xx, timeout) is retried only after reading the service again, so a retry never
        overwrites what someone else changed in between."""
        current = first
        for attempt in range(MAX_RETRIES + 1):
            service = wanted(current)
            what = "create service" if current is None else "update service"
            try:
                return self._write(service, create=current is None, fields=fields), current
            except LoopctlError as err:
                if not _write_retryable(err.__cause__) or attempt == MAX_RETRIES or self.deadline.expired():
                    raise
                delay = min(self.backoff_s * 2**attempt, self.deadline.remaining())
                self.log(
                    f"{what}: {err.message.split(': ', 2)[-1]} — re-reading the service, retry "
                    f"{attempt + 1}/{MAX_RETRIES} in {delay:.1f}s"
                )
                self.retries += 1
                time.sleep(delay)
                current = self.find_service()
        raise AssertionError("unreachable")

    def _write(self, service: run_v2.Service, *, create: bool, fields: Sequence[str] = ()) -> str:
        if create:
            parent = self.service_name.rsplit("/services/", 1)[0]
            operation = self.call(
                "create service",
                lambda timeout: self.services.create_service(
                    parent=parent, service=service, service_id=self.config.service, retry=None, timeout=timeout
                ),
                read=False,
            )
        else:
            service.name = self.service_name
            request: dict[str, Any] = {"service": service}
            if fields:
                request["update_mask"] = {"paths": list(fields)}
            operation = self.call(
                "update service",
                lambda timeout: self.services.update_service(request=request, retry=None, timeout=timeout),
                read=False,
            )
        return str(operation.operation.name)

    def wait_operation(self, name: str, show: Callable[[run_v2.Service], None]) -> operations_pb2.Operation:
        """Poll the long-running operation until done, showing the Service it carries as metadata."""
        from google.cloud import run_v2

        while True:
            found = self.call(
                "get operation",
                lambda timeout: self.services.get_operation(request={"name": name}, retry=None, timeout=timeout),
            )
            if found.HasField("metadata"):
                show(run_v2.Service.deserialize(found.metadata.value))
            if found.done:
                return found
            self._pause("the deploy operation did not finish")

    def settled_service(self, operation: operations_pb2.Operation | None = None) -> run_v2.Service:
        """The service once Cloud Run has acted on its latest generation: only then are its fields true.

        A failed reconciliation leaves observed_generation, traffic_statuses and latest_ready_revision on the last
        serving revision (Service.reconciling in the v2 reference), so observed_generation never catches up: a
        failed operation, or a terminal condition that failed while not reconciling, settles it too."""
        while True:
            service = self.find_service()
            if service is None:
                raise LoopctlError(
                    f"service {self.config.service} disappeared while deploying", kind=ErrorKind.NOT_FOUND
                )
            if operation is not None and operation.HasField("error"):
                return service
            if not service.reconciling and (
                service.observed_generation == service.generation
                or service.terminal_condition.state == CONDITION_FAILED
            ):
                return service
            self._pause(f"the service did not settle on generation {service.generation}")

    def invokable_by_everyone(self) -> bool:
        """Whether the service's IAM policy lets `allUsers` invoke it (public without invoker_iam_disabled). A policy
        loopctl may not read (run.services.getIamPolicy) reads as no."""
        try:
            policy = self.call(
                "get IAM policy",
                lambda timeout: self.services.get_iam_policy(
                    request={"resource": self.service_name}, retry=None, timeout=timeout
                ),
            )
        except LoopctlError:
            return False
        return any(binding.role == "roles/run.invoker" and "allUsers" in binding.members for binding in policy.bindings)

    def get_revision(self, name: str) -> run_v2.Revision:
        return self.call(
            "get revision", lambda timeout: self.revisions.get_revision(name=name, retry=None, timeout=timeout)
        )

    def call(self, what: str, request: Callable[[float], T], *, read: bool = True) -> T:
        """One API call with a timeout no longer than what is left of the deadline. A read is retried on 429, 500,
        503, 504 and timeouts with exponential backoff, each retry shown live; a write is never retried here."""
        from google.api_core import exceptions
        from requests import exceptions as http_exceptions

        for attempt in range(MAX_RETRIES + 1):
            timeout = min(self.call_timeout_s, self.deadline.remaining())
            if timeout <= 0:
                self._pause(f"{what} could not be sent")
            try:
                return request(timeout)
            except _transient() as err:
                delay = min(self.backoff_s * 2**attempt, self.deadline.remaining())
                timed_out = isinstance(err, (http_exceptions.Timeout, exceptions.DeadlineExceeded))
                said = (
                    f"no answer within {timeout:.0f}s"
                    if timed_out
                    else f"{getattr(err, 'code', '')} {server_message(err)}"
                )
                if not read or attempt == MAX_RETRIES or delay <= 0:
                    raise self._error(what, err, said) from err
                self.log(f"{what}: {said} — retry {attempt + 1}/{MAX_RETRIES} in {delay:.1f}s")
                self.retries += 1
                time.sleep(delay)
            except exceptions.GoogleAPICallError as err:
                raise api_error(what, err, project=self.config.project) from err
            except access_failures() as err:
                raise access_error(
                    f"Cloud Run API: {what}",
                    err,
                    endpoint=self.config.api_endpoint or "run.googleapis.com",
                    hint="check deploy.cloudrun.api_endpoint and the network",
                ) from err
        raise AssertionError("unreachable")

    def _error(self, what: str, err: Exception, said: str) -> LoopctlError:
        from google.api_core import exceptions

        if isinstance(err, exceptions.GoogleAPICallError) and not isinstance(err, exceptions.DeadlineExceeded):
            return api_error(what, err, project=self.config.project)
        return LoopctlError(
            f"Cloud Run API: {what}: {said}",
            hint="Cloud Run did not answer in time: run again, or raise deploy.cloudrun.ready_timeout",
            kind=ErrorKind.API_UNAVAILABLE,
        )

    def _pause(self, waiting_for: str) -> None:
        if self.deadline.expired():
            raise LoopctlError(
                f"{waiting_for} within the {self.deadline.seconds:g}s deadline",
                hint=_TIMEOUT_HINT,
                kind=ErrorKind.DEPLOY_TIMEOUT,
            )
        time.sleep(min(self.poll_s, self.deadline.remaining()))


def _transient() -> tuple[type[Exception], ...]:
    """What a retry may cure: 429, 500, 503, 504 and a request that got no answer in time."""
    from google.api_core import exceptions
    from requests import exceptions as http_exceptions

    return (
        exceptions.TooManyRequests,
        exceptions.InternalServerError,
        exceptions.ServiceUnavailable,
        exceptions.GatewayTimeout,
        exceptions.DeadlineExceeded,
        http_exceptions.Timeout,
    )


def _write_retryable(err: BaseException | None) -> bool:
    """Worth another write after re-reading: an etag race, a name taken meanwhile (ALREADY_EXISTS: the service was
    created, or the revision name is used), a 5xx or 429, or no answer in time."""
    from google.api_core import exceptions

    if isinstance(err, _transient()):
        return True
    return isinstance(err, exceptions.GoogleAPICallError) and (etag_race(err) or error_status(err) == "ALREADY_EXISTS")


def _clients(config: CloudRunConfig) -> tuple[run_v2.ServicesClient, run_v2.RevisionsClient]:
    """REST clients with Application Default Credentials, also on a regional `https://` api_endpoint; only an
    `http://` endpoint (an emulator) is called anonymously."""
    from google.cloud import run_v2

    credentials, options = client_settings(config.api_endpoint)
    return with_credentials(
        lambda: (
            run_v2.ServicesClient(transport="rest", client_options=options, credentials=credentials),
            run_v2.RevisionsClient(transport="rest", client_options=options, credentials=credentials),
        ),
        doing="deploy with",
    )


def cloudrun_config(config: Config) -> CloudRunConfig:
    if config.deploy is None or config.deploy.cloudrun is None:
        raise UsageError("no deploy.cloudrun block in the config", hint="add one (see docs/configuration.md)")
    return config.deploy.cloudrun


def connect(
    ctx: Context,
    phase: str,
    config: CloudRunConfig,
    *,
    poll_s: float,
    backoff_s: float,
    call_timeout_s: float = CALL_TIMEOUT_S,
) -> CloudRunApi:
    return CloudRunApi(
        config,
        log=lambda line: ctx.log(phase, line),
        deadline=Deadline(config.ready_timeout),
        poll_s=poll_s,
        backoff_s=backoff_s,
        call_timeout_s=call_timeout_s,
    )


class ConditionLog:
    """Shows what the operation's Service says as it changes: each message once, quiet sub-conditions that are fine."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show
        self.seen: set[str] = set()

    def __call__(self, service: run_v2.Service) -> None:
        for position, condition in enumerate([service.terminal_condition, *service.conditions]):
            text = condition.message or condition.state.name.removeprefix("CONDITION_").lower()
            quiet = position > 0 and condition.state == CONDITION_SUCCEEDED
            if condition.type_ and not quiet and text not in self.seen:
                self.seen.add(text)
                self.show(f"{condition.type_}: {text}")
