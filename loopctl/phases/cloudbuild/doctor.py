"""`loopctl doctor` for `builder: cloudbuild`: credentials, the Cloud Build API and the source bucket, with fixes."""

from __future__ import annotations

from loopctl.clients.google import ADC_HINT, is_emulator
from loopctl.config import CloudBuildConfig
from loopctl.doctor_finding import Finding, credentials_finding
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.cloudbuild.api import CloudBuildApi
from loopctl.phases.cloudbuild.source import check_owner

ENABLE_HINT = "enable it: `gcloud services enable cloudbuild.googleapis.com --project {project}`"
ROLE_HINT = "grant your identity roles/cloudbuild.builds.editor (submit and cancel builds) on {project}"


def cloudbuild_checks(config: CloudBuildConfig) -> list[Finding]:
    """Credentials first: without them the two API checks would only repeat the same failure."""
    credentials = _credentials(config)
    if not credentials.ok:
        return [credentials]
    try:
        api = CloudBuildApi(config, log=lambda line: None, backoff_s=0.5)
    except LoopctlError as err:
        return [Finding("cloud build credentials", False, err.message, err.hint)]
    return [credentials, _build_api(api), _account(api), _bucket(api)]


def _credentials(config: CloudBuildConfig) -> Finding:
    if is_emulator(config.api_endpoint) and is_emulator(config.storage_endpoint):
        return Finding("cloud build credentials", True, "anonymous: both endpoints are http:// emulators")
    return credentials_finding("cloud build credentials", ADC_HINT)


def _build_api(api: CloudBuildApi) -> Finding:
    project = api.config.project
    where: dict[str, object] = {"page_size": 1}
    where.update({"parent": api.location} if api.config.region != "global" else {"project_id": project})
    try:
        api.call("Cloud Build", "list builds", lambda: api.builds.list_builds(request=where, retry=None))
    except LoopctlError as err:
        lowered = err.message.lower()
        if "has not been used" in lowered or "is disabled" in lowered or "service_disabled" in lowered:
            return Finding("cloud build api", False, f"not enabled in {project}", ENABLE_HINT.format(project=project))
        if err.kind == ErrorKind.PERMISSION_DENIED:
            return Finding("cloud build api", False, err.message, ROLE_HINT.format(project=project))
        return Finding("cloud build api", False, err.message, err.hint)
    return Finding("cloud build api", True, f"answers for {project} ({api.config.region})")


def _account(api: CloudBuildApi) -> Finding:
    """Who builds: it fetches the source (storage.objects.get on the bucket) and pushes the image."""
    named = api.config.service_account
    account = named or api.default_account()
    if not account:
        return Finding(
            "cloud build account", True, "the project's default build account could not be read", warning=True
        )
    whose = "build.cloudbuild.service_account" if named else "the project's default"
    return Finding(
        "cloud build account",
        True,
        f"builds run as {account} ({whose}): it needs storage.objects.get on gs://{api.config.source_bucket} and "
        "roles/artifactregistry.writer on the repository",
    )


def _bucket(api: CloudBuildApi) -> Finding:
    from google.api_core.exceptions import NotFound

    name = api.config.source_bucket
    try:
        api.call("Cloud Storage", f"get bucket {name}", lambda: api.storage.get_bucket(name, retry=None))
    except LoopctlError as err:
        if isinstance(err.__cause__, NotFound):
            return Finding("source bucket", True, f"gs://{name} does not exist yet: the first build creates it")
        fix = f"grant your identity roles/storage.admin on gs://{name}, or set build.cloudbuild.bucket"
        return Finding(
            "source bucket", False, err.message, fix if err.kind == ErrorKind.PERMISSION_DENIED else err.hint
        )
    if api.config.bucket is None:
        try:
            check_owner(api, api.config, name)
        except LoopctlError as err:
            return Finding("source bucket", False, err.message, err.hint)
    return Finding("source bucket", True, f"gs://{name} is there")
