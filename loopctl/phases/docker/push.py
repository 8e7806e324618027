"""The push phase: tags go to the registry, and the digest it answers pins what deploy will run."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.base import Context, PhaseResult
from loopctl.records.sections import BuildSection, PushSection

MAX_RETRIES = 3
_TRANSIENT = ("500", "502", "503", "504", "connection reset", "eof", "i/o timeout", "broken pipe", "timeout")


class PushPhase:
    name = "push"

    def __init__(self, *, backoff_s: float = 1.0) -> None:
        self.backoff_s = backoff_s

    def run(self, ctx: Context) -> PhaseResult:
        from loopctl.phases.docker.registry import auth_config, remote_digest, tag_by_manifest

        build = built(ctx)
        repository, cache_tag = build.image or "", build.cache_tag or ""  # `built` saw both
        if build.cached == "remote":
            digest = remote_digest(cache_tag, ctx)
            if digest is not None:
                ctx.log(self.name, "already in the registry: nothing to upload")
                return push_result(repository, cache_tag, digest, retries=0, uploaded=False)
        credentials = auth_config(ctx)
        # The image goes up once, under its input tag; the other tags name the same manifest, so the registry
        # is told so directly instead of the engine checking every layer again for each of them.
        digest, retries = self._push_tag(ctx, repository, cache_tag.rsplit(":", 1)[1], credentials)
        refused = tag_by_manifest(repository, digest, build.tags, credentials)
        for tag in build.tags:
            if tag not in refused:
                ctx.log(self.name, f"{tag}: tagged in the registry")
        for tag in refused:
            _, used = self._push_tag(ctx, repository, tag, credentials)
            retries += used
        return push_result(repository, build.reference or cache_tag, digest, retries=retries, uploaded=True)

    def _push_tag(self, ctx: Context, repository: str, tag: str, credentials: dict[str, str] | None) -> tuple[str, int]:
        from loopctl.clients.docker_engine import api_client

        api = api_client()
        for attempt in range(MAX_RETRIES + 1):
            try:
                stream = api.push(repository, tag=tag, stream=True, decode=True, auth_config=credentials)
                return follow_push(stream, lambda line: ctx.log(self.name, line)), attempt
            except LoopctlError as err:
                if err.kind != ErrorKind.PUSH_TRANSIENT or attempt == MAX_RETRIES:
                    raise
                delay = self.backoff_s * 2**attempt
                ctx.log(self.name, f"retry {attempt + 1}/{MAX_RETRIES} in {delay:g}s: {err.message}")
                time.sleep(delay)
        raise AssertionError("unreachable")


def follow_push(stream: Iterable[dict[str, Any]], show: Any) -> str:
    """Read the engine's push stream; the `aux` record carries the digest, `errorDetail` a failure."""
    digest: str | None = None
    for chunk in stream:
        if "errorDetail" in chunk or "error" in chunk:
            message = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error") or "push failed"
            raise push_error(message)
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
        status = chunk.get("status")
        if status and not chunk.get("progressDetail"):  # progress bars would flood the live view
            show(f"{chunk.get('id', '')} {status}".strip())
    if digest is None:
        raise LoopctlError("the registry accepted the push but returned no digest", kind=ErrorKind.PUSH)
    return digest


def push_error(message: str) -> LoopctlError:
    """Map the registry's words to a kind and a hint."""
    lowered = message.lower()
    if any(word in lowered for word in ("denied", "unauthorized", "authentication required", "no basic auth")):
        return LoopctlError(
            f"push refused: {message}",
            hint="log in to the registry (docker login / push.auth: gcloud) or check build.image's repository",
            kind=ErrorKind.PUSH_DENIED,
        )
    if "name unknown" in lowered or "repository name not known" in lowered:
        return LoopctlError(f"push refused: {message}", hint="create the repository first", kind=ErrorKind.PUSH_DENIED)
    if "connection refused" in lowered or "no such host" in lowered:
        return LoopctlError(
            f"registry unreachable: {message}",
            hint="start the registry (scripts/registry.sh up) or check the host in build.image",
            kind=ErrorKind.PUSH_UNREACHABLE,
        )
    if any(word in lowered for word in _TRANSIENT):
        return LoopctlError(
            f"push failed: {message}", hint="the registry failed; retried", kind=ErrorKind.PUSH_TRANSIENT
        )
    return LoopctlError(f"push failed: {message}", hint="read the engine's message above", kind=ErrorKind.PUSH)


def built(ctx: Context) -> BuildSection:
    """The build phase's section, which every push phase starts from."""
    build = ctx.sections.build
    if build is None or not (build.image and build.reference and build.cache_tag):
        raise LoopctlError(
            "nothing to push: the build phase did not run",
            hint="deploy an existing image with --image REF",
            kind=ErrorKind.PUSH,
        )
    return build


def push_result(
    repository: str, reference: str, digest: str, *, retries: int, uploaded: bool, pushed_by: str | None = None
) -> PhaseResult:
    """The push section every push phase writes: the digest the registry holds pins what deploy runs."""
    pinned = f"{repository}@{digest}"
    by = {"pushed_by": pushed_by} if pushed_by is not None else {}
    section = PushSection(reference=reference, digest=digest, pinned=pinned, uploaded=uploaded, **by, retries=retries)
    return PhaseResult("ok", {"pinned": pinned, "retries": retries}, section=section)
