"""The Build loopctl submits: a docker build step with the local builder's arguments, pushed under every tag."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopctl.config import BuildConfig, CloudBuildConfig

if TYPE_CHECKING:
    from google.cloud.devtools import cloudbuild_v1

DOCKER_BUILDER = "gcr.io/cloud-builders/docker"
CACHE_STEP = "pull-cache"
BUILD_STEP = "build"
LOGS_PREFIX = "logs"


def docker_build_args(build: BuildConfig, references: list[str], cache_from: str | None) -> list[str]:
    """`docker build` as the local builder runs it: same Dockerfile, args, target and platform."""
    args = ["build"]
    for reference in references:
        args += ["--tag", reference]
    args += ["--file", build.dockerfile, "--platform", build.platform]
    for name in sorted(build.args):
        args += ["--build-arg", f"{name}={build.args[name]}"]
    if build.target:
        args += ["--target", build.target]
    if cache_from:
        args += ["--cache-from", cache_from]
    return [*args, "."]


def build_request(
    build: BuildConfig,
    *,
    bucket: str,
    source: str,
    references: list[str],
    cache_from: str | None,
    generation: int = 0,
) -> cloudbuild_v1.Build:
    """Source from the bucket (pinned to `generation`, the object loopctl uploaded or verified), an optional cache
    pull, the build; `images:` has Cloud Build push, report digests."""
    from google.cloud.devtools import cloudbuild_v1

    assert build.cloudbuild is not None
    config = build.cloudbuild
    steps = []
    if cache_from:
        # The classic builder uses --cache-from only for an image it has: pull it first, and carry on without it.
        steps.append(
            cloudbuild_v1.BuildStep(name=DOCKER_BUILDER, id=CACHE_STEP, args=["pull", cache_from], allow_failure=True)
        )
    steps.append(
        cloudbuild_v1.BuildStep(
            name=DOCKER_BUILDER, id=BUILD_STEP, args=docker_build_args(build, references, cache_from)
        )
    )
    return cloudbuild_v1.Build(
        source=cloudbuild_v1.Source(
            storage_source=cloudbuild_v1.StorageSource(bucket=bucket, object_=source, generation=generation)
        ),
        steps=steps,
        images=references,
        timeout={"seconds": config.timeout},
        # A build that cannot start within the same budget expires instead of waiting in the queue for an hour.
        queue_ttl={"seconds": config.timeout},
        # In loopctl's own bucket, so whoever can upload the source can also read the log it tails.
        logs_bucket=f"gs://{bucket}/{LOGS_PREFIX}",
        options=_options(config),
        service_account=_service_account(config),
        tags=["loopctl"],
    )


def _options(config: CloudBuildConfig) -> cloudbuild_v1.BuildOptions:
    from google.cloud.devtools import cloudbuild_v1

    options = cloudbuild_v1.BuildOptions(logging=cloudbuild_v1.BuildOptions.LoggingMode.GCS_ONLY)
    if config.machine_type:
        options.machine_type = getattr(cloudbuild_v1.BuildOptions.MachineType, config.machine_type)
    if config.disk_size_gb:
        options.disk_size_gb = config.disk_size_gb
    if config.worker_pool:
        options.pool = cloudbuild_v1.BuildOptions.PoolOption(name=worker_pool_name(config))
    return options


def worker_pool_name(config: CloudBuildConfig) -> str:
    pool = config.worker_pool or ""
    if pool.startswith("projects/"):
        return pool
    return f"projects/{config.project}/locations/{config.region}/workerPools/{pool}"


def _service_account(config: CloudBuildConfig) -> str:
    account = config.service_account
    if not account:
        return ""
    return account if account.startswith("projects/") else f"projects/{config.project}/serviceAccounts/{account}"
