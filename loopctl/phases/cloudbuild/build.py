"""The build phase on Cloud Build: upload the context once, submit, tail the log, wait; unchanged inputs skip it."""

from __future__ import annotations

import contextlib
import time
from typing import Any
from urllib.parse import quote

from loopctl.config import BuildConfig, CloudBuildConfig
from loopctl.errors import ErrorKind, LoopctlError, UsageError
from loopctl.outside_text import one_line
from loopctl.phases.base import Context, PhaseResult
from loopctl.phases.cloudbuild.api import CloudBuildApi
from loopctl.phases.cloudbuild.failure import build_failure
from loopctl.phases.cloudbuild.logs import LogTail
from loopctl.phases.cloudbuild.registry import DIGEST, manifest_digest
from loopctl.phases.cloudbuild.request import build_request
from loopctl.phases.cloudbuild.source import upload_source
from loopctl.phases.docker.build import image_tags
from loopctl.phases.inputs import input_digest, input_tag, own_paths, reuse_refusal
from loopctl.records.record import ErrorInfo
from loopctl.records.sections import BuildSection
from loopctl.records.store import write_atomic
from loopctl.secrets import redact

_RUNNING = ("STATUS_UNKNOWN", "PENDING", "QUEUED", "WORKING")
# Cloud Build ends a build at its timeout or queue TTL; loopctl gives up on its own only well after that.
_GRACE_S = 120
_AFTER_END_S = 0.1


class CloudBuildPhase:
    name = "build"

    def __init__(self, *, poll_s: float = 1.0, tail_s: float = 0.25, backoff_s: float = 1.0) -> None:
        self.poll_s = poll_s  # builds.get, as often as gcloud asks
        self.tail_s = tail_s  # the log object: a ranged read that usually returns nothing new
        self.backoff_s = backoff_s

    def run(self, ctx: Context) -> PhaseResult:
        build = _config(ctx)
        assert build.cloudbuild is not None
        digest = input_digest(ctx.config)
        cache_tag = f"{build.image}:{input_tag(digest)}"
        tags = image_tags(ctx)
        section = _section(build, digest, cache_tag, tags)
        caching = not ctx.options.no_cache and build.cache != "off"
        held = manifest_digest(cache_tag, ctx) if caching else None
        refusal = reuse_refusal(ctx.store, build.cache, digest, cache_tag, held) if held is not None else None
        if held is not None and refusal is None:
            ctx.log(self.name, f"unchanged inputs: {cache_tag} is already in the registry")
            remote = section.model_copy(update={"cached": "remote", "reference": cache_tag, "digest": held})
            return PhaseResult("ok", {"cached": "remote"}, section=remote)
        if refusal is not None:
            ctx.log(self.name, refusal)
            section = section.model_copy(update={"cache_note": refusal})
        api = CloudBuildApi(build.cloudbuild, log=lambda line: ctx.log(self.name, line), backoff_s=self.backoff_s)
        context = ctx.config.path(build.context)
        source = upload_source(api, context, build, digest, own=own_paths(ctx.config, context))
        uploaded = {"source": source.uri, "source_uploaded": source.uploaded, "source_generation": source.generation}
        section = section.model_copy(update=uploaded)
        references = [cache_tag, *(f"{build.image}:{tag}" for tag in tags)]
        request = build_request(
            build,
            bucket=source.bucket,
            source=source.name,
            generation=source.generation,
            references=references,
            cache_from=previous_image(ctx),
        )
        queued = api.create(request)
        console = console_url(build.cloudbuild, queued.id)
        section = section.model_copy(
            update={"build_id": queued.id, "log_url": _clip(queued.log_url), "console_url": console}
        )
        ctx.log(self.name, f"submitted Cloud Build {queued.id}: {console}")
        return self._follow(ctx, api, queued, section)

    def _follow(self, ctx: Context, api: CloudBuildApi, queued: Any, section: BuildSection) -> PhaseResult:
        tail = LogTail(api, queued.logs_bucket, queued.id, lambda line: ctx.log(self.name, line))
        finished: Any = None
        try:
            finished = self._wait(ctx, api, queued, tail)
        except KeyboardInterrupt:
            return self._cancel(ctx, api, queued, section)
        except LoopctlError as lost:
            return self._abandon(ctx, api, queued, section, lost)
        except Exception:
            with contextlib.suppress(LoopctlError):  # a bug shows as one; the remote build still must not go on
                api.cancel(queued.id)
            raise
        finally:
            write_atomic(ctx.artifact("build.log"), redact(tail.text()))
        section = section.model_copy(update={"retries": api.retries, **timings(finished)})
        detail = {"build_id": finished.id, "queued_s": section.queued_s, "working_s": section.working_s}
        if finished.status.name != "SUCCESS":
            err = build_failure(
                finished,
                tail,
                _cloudbuild(ctx),
                log_name=ctx.artifact("build.log").name,
                default_account=api.default_account,
            )
            return PhaseResult(
                "failed",
                detail,
                section=section,
                error=ErrorInfo(kind=err.kind, message=err.message, hint=err.hint),
            )
        try:
            section = section.model_copy(update={"digest": pushed_digest(finished, section.reference or "")})
        except LoopctlError as err:
            return PhaseResult(
                "failed",
                detail,
                section=section,
                error=ErrorInfo(kind=err.kind, message=err.message),
            )
        return PhaseResult("ok", {**detail, "cached": "no"}, section=section)

    def _cancel(self, ctx: Context, api: CloudBuildApi, queued: Any, section: BuildSection) -> PhaseResult:
        """Ctrl-C: cancel the remote build before the iteration ends aborted (a build left running costs money)."""
        ctx.log(self.name, f"interrupted: cancelling Cloud Build {queued.id}")
        try:
            cancelled = api.cancel(queued.id)
        except LoopctlError as err:
            message = f"interrupted; cancelling Cloud Build {queued.id} failed: {err.message}"
            error = ErrorInfo(kind=ErrorKind.INTERRUPTED, message=message, hint="cancel it in the Cloud Console")
            section = section.model_copy(update={"cancelled": False, **timings(queued)})
        else:
            message = f"interrupted: Cloud Build {queued.id} was cancelled"
            error = ErrorInfo(kind=ErrorKind.INTERRUPTED, message=message)
            section = section.model_copy(update={"cancelled": True, **timings(cancelled)})
        return PhaseResult("aborted", {"build_id": queued.id}, section=section, error=error)

    def _abandon(
        self, ctx: Context, api: CloudBuildApi, queued: Any, section: BuildSection, err: LoopctlError
    ) -> PhaseResult:
        """loopctl stops following the build (its status cannot be read, or it ran far past its timeout): cancel it,
        so nothing keeps building, and billing, behind a failed phase."""
        ctx.log(self.name, f"giving up: cancelling Cloud Build {queued.id}")
        try:
            cancelled = api.cancel(queued.id)
        except LoopctlError as failed:
            message = f"{err.message}; gave up on Cloud Build {queued.id}, and cancelling it failed: {failed.message}"
            hint = f"cancel it in the Cloud Console; {err.hint}" if err.hint else "cancel it in the Cloud Console"
            section = section.model_copy(update={"cancelled": False, "retries": api.retries, **timings(queued)})
            return PhaseResult(
                "failed",
                {"build_id": queued.id},
                section=section,
                error=ErrorInfo(kind=err.kind, message=message, hint=hint),
            )
        section = section.model_copy(update={"cancelled": True, "retries": api.retries, **timings(cancelled)})
        message = f"{err.message}; gave up on Cloud Build {queued.id}: cancelled"
        return PhaseResult(
            "failed",
            {"build_id": queued.id},
            section=section,
            error=ErrorInfo(kind=err.kind, message=message, hint=err.hint),
        )

    def _wait(self, ctx: Context, api: CloudBuildApi, queued: Any, tail: LogTail) -> Any:
        """Tail the log often (a cheap read); ask for the status every poll_s, or at once when the log has ended."""
        config = _cloudbuild(ctx)
        limit = 2 * config.timeout + _GRACE_S
        give_up = time.monotonic() + limit
        state, next_get = "", 0.0
        while True:
            if time.monotonic() >= next_get or tail.ended:
                current = api.get(queued.id)
                next_get = time.monotonic() + self.poll_s
                tail.poll(final=current.status.name not in _RUNNING)
                if current.status.name != state:
                    state = current.status.name
                    ctx.log(self.name, f"Cloud Build {current.id}: {state}")
                if current.status.name not in _RUNNING:
                    return current
            else:
                tail.poll()
            if time.monotonic() > give_up:
                raise LoopctlError(
                    f"Cloud Build {queued.id} still {state} after {limit}s",
                    hint="raise build.cloudbuild.timeout, or look at the build in the Cloud Console",
                    kind=ErrorKind.BUILD_TIMEOUT,
                )
            # Once the log has ended the status flips within moments: ask again soon, not a whole tick later.
            time.sleep(min(self.tail_s, _AFTER_END_S) if tail.ended else self.tail_s)


def pushed_digest(build: Any, reference: str) -> str:
    """The digest Cloud Build reports for `reference` in results.images (it lists every pushed tag)."""
    images = list(build.results.images)
    found = next((image.digest for image in images if image.name == reference), None)
    if found is None and images:
        found = images[0].digest
    if not found or not DIGEST.fullmatch(str(found)):
        raise LoopctlError(
            f"Cloud Build {build.id} succeeded but reported no usable image digest for {reference}",
            hint="check that the build's images: list was pushed (see the build log)",
            kind=ErrorKind.BUILD,
        )
    return str(found)


def timings(build: Any) -> dict[str, float | None]:
    """Seconds in the queue (create → start) and at work (start → finish), each None when it never happened."""
    if build is None:
        return {"queued_s": None, "working_s": None}
    created, started, ended = (_moment(build, field) for field in ("create_time", "start_time", "finish_time"))
    queued = (started or ended or time.time()) - created if created else None
    working = (ended or time.time()) - started if started else None
    return {"queued_s": _round(queued), "working_s": _round(working)}


def console_url(config: CloudBuildConfig, build_id: str) -> str:
    """The build's page in the Cloud Console (built here, not taken from the API, so the report links only there)."""
    return (
        f"https://console.cloud.google.com/cloud-build/builds;region={quote(config.region, safe='')}/"
        f"{quote(build_id, safe='')}?project={quote(config.project, safe='')}"
    )


def previous_image(ctx: Context) -> str | None:
    """The image the last iteration pushed, pinned by digest: `--cache-from` so unchanged layers are not rebuilt."""
    build = _config(ctx)
    records, _ = ctx.store.recent(5, before=ctx.number)
    for record in reversed(records):
        pinned = record.push.pinned or "" if record.push is not None else ""
        if pinned.startswith(build.image + "@"):
            return pinned
    return None


def _section(build: BuildConfig, digest: str, cache_tag: str, tags: list[str]) -> BuildSection:
    assert build.cloudbuild is not None
    return BuildSection(
        builder="cloudbuild",
        image=build.image,
        reference=f"{build.image}:{tags[-1]}",
        image_id=None,
        input_digest=digest,
        cached="no",
        tags=tags,
        cache_tag=cache_tag,
        project=build.cloudbuild.project,
        region=build.cloudbuild.region,
        build_id=None,
        log_url=None,
        queued_s=None,
        working_s=None,
    )


def _moment(build: Any, field: str) -> float | None:
    if field not in build:
        return None
    value = getattr(build, field)
    return float(value.timestamp()) if value else None


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(max(0.0, seconds), 3)


def _clip(url: str) -> str:
    return one_line(str(url), 300)


def _config(ctx: Context) -> BuildConfig:
    if ctx.config.build is None:
        raise UsageError("no build: block in the config", hint="add one, or skip the phase")
    return ctx.config.build


def _cloudbuild(ctx: Context) -> CloudBuildConfig:
    config = _config(ctx).cloudbuild
    if config is None:
        raise UsageError("no build.cloudbuild block in the config", hint="add one (see docs/configuration.md)")
    return config
