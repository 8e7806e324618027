"""The build phase: the Docker Engine builds the context, streaming its log; unchanged inputs skip it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from loopctl.config import BuildConfig
from loopctl.errors import LoopctlError
from loopctl.phases.inputs import input_digest, input_tag
from loopctl.records.store import write_atomic
from loopctl.runner import Context, PhaseResult
from loopctl.secrets import redact

_STEP = re.compile(r"^Step \d+/\d+ : .*")


class BuildPhase:
    name = "build"

    def run(self, ctx: Context) -> PhaseResult:
        from loopctl.phases.docker.engine import api_client
        from loopctl.phases.docker.registry import remote_digest

        build = _config(ctx)
        digest = input_digest(ctx.config)
        cache_tag = f"{build.image}:{input_tag(digest)}"
        tags = image_tags(ctx)
        cached = "no"
        image_id: str | None = None
        if not ctx.options.get("no_cache") and remote_digest(cache_tag, ctx) is not None:
            ctx.log(self.name, f"unchanged inputs: {cache_tag} is already in the registry")
            return _result(build, digest, "remote", None, tags, cache_tag)
        api = api_client()  # the SDK only from here: an unchanged iteration never loads it
        if not ctx.options.get("no_cache"):
            image_id = _local_image(api, cache_tag)
            cached = "local" if image_id else "no"
        if image_id is None:
            image_id = self._build(ctx, api, build, cache_tag)
        else:
            ctx.log(self.name, f"unchanged inputs: reusing local image {image_id[:19]}")
        for tag in tags:
            api.tag(image_id, build.image, tag)
        return _result(build, digest, cached, image_id, tags, cache_tag)

    def _build(self, ctx: Context, api: Any, build: BuildConfig, cache_tag: str) -> str:
        log_path = ctx.store.artifact_path(ctx.number, "build.log")
        lines: list[str] = []
        stream = api.build(
            path=str(ctx.config.path(build.context)),
            dockerfile=build.dockerfile,
            tag=cache_tag,
            buildargs=dict(build.args),
            target=build.target,
            platform=build.platform,
            decode=True,
            rm=True,
            forcerm=True,
            pull=False,
        )
        try:
            image_id = follow_build(stream, lines, lambda line: ctx.log(self.name, line))
        finally:
            write_atomic(log_path, redact("".join(lines)))
        return image_id


def follow_build(stream: Iterable[dict[str, Any]], lines: list[str], show: Any) -> str:
    """Read the engine's build stream: keep the log, show progress, turn `errorDetail` into a failure."""
    step = ""
    image_id: str | None = None
    for chunk in stream:
        text = chunk.get("stream")
        if text:
            lines.append(text)
            stripped = text.strip()
            if _STEP.match(stripped):
                step = stripped
            if stripped:
                show(stripped[:160])
        if "errorDetail" in chunk or "error" in chunk:
            message = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error") or "build failed"
            lines.append(f"ERROR: {message}\n")
            raise build_error(step, message)
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
    if image_id is None:
        raise LoopctlError("the engine ended the build without an image id", hint="see the build log", kind="build")
    return image_id


def build_error(step: str, message: str) -> LoopctlError:
    """Name the Dockerfile step and the engine's message; the hint says what usually causes it."""
    lowered = message.lower()
    if " : from " in step.lower() or "pull access denied" in lowered or "manifest unknown" in lowered:
        hint = "the base image cannot be had: build it (scripts/base-image.sh) or set build.args.BASE_IMAGE"
    elif "copy failed" in lowered or ("no such file or directory" in lowered and "copy" in step.lower()):
        hint = "a COPY source is missing from the build context (or excluded by .dockerignore)"
    elif "returned a non-zero code" in lowered:
        hint = "a RUN command failed: read the lines above it in the build log"
    else:
        hint = "read the build log beside the record (NNNN.build.log)"
    where = f"{step}: " if step else ""
    return LoopctlError(f"{where}{message.strip()}", hint=hint, kind="build")


def image_tags(ctx: Context) -> list[str]:
    """`<git-short-sha>[-dirty]` and `loopctl-NNNN`."""
    from loopctl.gitinfo import git_info

    # Asked once per iteration: the record's `git` section is the same answer (the tree as it was built).
    if "git" not in ctx.memo:
        ctx.memo["git"] = git_info(ctx.config.base_dir)
    git = ctx.memo["git"]
    tags = [f"loopctl-{ctx.number:04d}"]
    if git["commit"]:
        tags.insert(0, git["commit"][:12] + ("-dirty" if git["dirty"] else ""))
    return tags


def _local_image(api: Any, reference: str) -> str | None:
    from docker.errors import ImageNotFound

    try:
        return str(api.inspect_image(reference)["Id"])
    except ImageNotFound:
        return None


def _result(
    build: BuildConfig, digest: str, cached: str, image_id: str | None, tags: list[str], cache_tag: str
) -> PhaseResult:
    section = {
        "image": build.image,
        # Found in the registry: nothing was tagged locally, so the input tag is what exists.
        "reference": cache_tag if cached == "remote" else f"{build.image}:{tags[-1]}",
        "image_id": image_id,
        "input_digest": digest,
        "cached": cached,
        "tags": tags,
        "cache_tag": cache_tag,
    }
    detail = {"image_id": image_id, "cached": cached}
    return PhaseResult("ok", detail, section=section)


def _config(ctx: Context) -> BuildConfig:
    if ctx.config.build is None:
        raise LoopctlError("no build: block in the config", hint="add one, or skip the phase", kind="config")
    return ctx.config.build
