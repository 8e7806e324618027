"""Expected failures: each carries a `kind` slug and a `hint` that says what to do."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """Every kind of failure loopctl records or prints; members equal their slugs, so records keep their JSON."""

    # the run itself
    ERROR = "error"  # an expected failure with no more specific kind
    USAGE = "usage"  # bad command-line input or configuration (exit 2)
    SECRET = "secret"  # a secret reference (env, file, command) gave no usable value (exit 2)
    STORE = "store"  # the iterations folder cannot be written or locked (exit 2)
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM stopped the run, or a remote build was cancelled
    INTERNAL_ERROR = "internal_error"  # an unexpected exception inside loopctl: a bug or the machine's limits
    # engines, clouds and their credentials
    ENGINE_UNREACHABLE = "engine_unreachable"  # no Docker engine answered at DOCKER_HOST
    CREDENTIALS = "credentials"  # no usable registry or Google credentials
    API_UNREACHABLE = "api_unreachable"  # a Google API could not be connected to
    API_UNAVAILABLE = "api_unavailable"  # a Google API kept answering 429 or 5xx
    API_ERROR = "api_error"  # a Google API error of no known class
    API_DISABLED = "api_disabled"  # the project has not enabled the API
    PERMISSION_DENIED = "permission_denied"  # the identity lacks a permission Google names
    NOT_FOUND = "not_found"  # a project, region, service or build Google does not know
    CONFLICT = "conflict"  # the resource changed while loopctl wrote it (etag race, name taken)
    INVALID_REQUEST = "invalid_request"  # Google refused the request as malformed (400)
    # build
    BUILD = "build"  # the image build failed (a Dockerfile step, an engine error)
    BUILD_TIMEOUT = "build_timeout"  # a Cloud Build ran past its timeout
    SOURCE_DENIED = "source_denied"  # Cloud Build could not read the uploaded source
    SOURCE_CHANGED = "source_changed"  # the source archive changed while it was uploaded
    BUCKET_NOT_OWNED = "bucket_not_owned"  # the default source bucket belongs to another project
    # push
    PUSH = "push"  # the push failed for a reason the registry did not name
    PUSH_DENIED = "push_denied"  # the registry refused the credentials or the repository
    PUSH_UNREACHABLE = "push_unreachable"  # the registry could not be reached
    PUSH_TRANSIENT = "push_transient"  # the registry failed in a way a retry may cure
    DIGEST_MISMATCH = "digest_mismatch"  # the registry holds another digest than the build made
    # deploy and release
    NO_IMAGE = "no_image"  # nothing was built or pushed to deploy
    IMAGE_NOT_FOUND = "image_not_found"  # the engine has no image of that reference
    CONTAINER_START = "container_start"  # the engine could not start the container
    CONTAINER_EXITED = "container_exited"  # the container exited before it listened
    NOT_LISTENING = "not_listening"  # the container runs but nothing answers on its port
    WRONG_PORT = "wrong_port"  # the container listens, on another port than deploy.docker.port (or on loopback only)
    DEPLOY = "deploy"  # a Cloud Run deploy failed for a reason Google did not name
    DEPLOY_FAILED = "deploy_failed"  # Cloud Run reported the deploy failed
    DEPLOY_TIMEOUT = "deploy_timeout"  # the deploy did not finish in its timeout
    REVISION_NOT_READY = "revision_not_ready"  # the new revision did not become ready
    SECRET_ACCESS_DENIED = "secret_access_denied"  # the revision's service account may not read a secret
    ZERO_TRAFFIC = "zero_traffic"  # the new revision is ready but serves no traffic
    NO_URL = "no_url"  # the service has no URL to probe
    RELEASE_FAILED = "release_failed"  # traffic did not move to the new revision
    # evidence and suites
    LOGS_UNAVAILABLE = "logs_unavailable"  # server logs could not be read (said in the report, never a failure)
    JUNIT = "junit"  # a suite's JUnit XML could not be read
    NO_JUNIT = "no_junit"  # a suite wrote no JUnit XML
    EXIT_CODE = "exit_code"  # a suite's command exited non-zero beyond its listed failures
    TIMEOUT = "timeout"  # a suite did not finish in its timeout


class LoopctlError(Exception):
    """A failure the user can act on; rendered as one line, never as a traceback."""

    kind: ErrorKind = ErrorKind.ERROR

    def __init__(self, message: str, *, hint: str = "", kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return self.message


class UsageError(LoopctlError):
    """Bad command-line input or configuration: exit code 2."""

    kind = ErrorKind.USAGE


class SecretError(UsageError):
    """A secret could not be read from its source (env, file or command)."""

    kind = ErrorKind.SECRET


class ConfigDeprecation(UserWarning):
    """A config key read under a name that will go: shown as one `warning:` line, never as an error."""
