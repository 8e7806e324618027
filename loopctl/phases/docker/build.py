"""The build phase: the Docker Engine builds the context, streaming its log; unchanged inputs skip it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import IO, Any, cast

from loopctl.config import BuildConfig, Config
from loopctl.errors import ErrorKind, LoopctlError, UsageError
from loopctl.evidence.toolchain import cause_line
from loopctl.outside_text import clip, one_line
from loopctl.phases.base import Context, PhaseResult
from loopctl.phases.inputs import build_inputs, input_digest, input_tag, reuse_refusal
from loopctl.records.sections import BuildSection
from loopctl.records.store import write_atomic
from loopctl.secrets import redact

_STEP = re.compile(r"^Step \d+/\d+ : .*")
# CSI/OSC sequences (colours, cursor moves) and other C0 controls except tab and newline.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")
# The engine's own bookkeeping between steps: never the cause of a failure.
_ENGINE_NOISE = re.compile(r"^(---> |Running in |Removing intermediate container|Successfully |Sending build context)")
FAILURE_TAIL_LINES = 8
_LINE_LIMIT = 200
PROGRESS_WIDTH = 160  # one line of live progress


class BuildPhase:
    name = "build"

    def run(self, ctx: Context) -> PhaseResult:
        from loopctl.clients.docker_engine import api_client
        from loopctl.phases.docker.registry import remote_digest

        build = _config(ctx)
        digest = input_digest(ctx.config)
        cache_tag = f"{build.image}:{input_tag(digest)}"
        tags = image_tags(ctx)
        cached = "no"
        image_id: str | None = None
        caching = not ctx.options.no_cache and build.cache != "off"
        refusal: str | None = None
        # Without a push phase nothing ever reaches a registry: asking one would only cost a round trip.
        held = remote_digest(cache_tag, ctx) if caching and ctx.config.push is not None else None
        if held is not None:
            refusal = reuse_refusal(ctx.store, build.cache, digest, cache_tag, held)
            if refusal is None:
                ctx.log(self.name, f"unchanged inputs: {cache_tag} is already in the registry")
                return _result(build, digest, "remote", None, tags, cache_tag)
            ctx.log(self.name, refusal)
        if caching:
            image_id = _local_image(cache_tag)
            cached = "local" if image_id else "no"
        if image_id is None:
            image_id = self._build(ctx, api_client(), build, cache_tag)  # the SDK only to build
        else:
            ctx.log(self.name, f"unchanged inputs: reusing local image {image_id[:19]}")
        for tag in tags:
            _tag(image_id, build.image, tag)
        result = _result(build, digest, cached, image_id, tags, cache_tag, pushed=ctx.config.push is not None)
        return _with_note(result, refusal)

    def _build(self, ctx: Context, api: Any, build: BuildConfig, cache_tag: str) -> str:
        log_path = ctx.artifact("build.log")
        lines: list[str] = []
        context, dockerfile = build_context(ctx.config)
        stream = api.build(
            fileobj=context,
            custom_context=True,
            dockerfile=dockerfile,
            tag=cache_tag,
            # What `loopctl clean` and `doctor` find this project's images by (the same on every build: no cache lost).
            labels={"loopctl.project": ctx.config.project, "loopctl.service": ctx.config.project},
            buildargs=dict(build.args),
            target=build.target,
            platform=build.platform,
            decode=True,
            rm=True,
            forcerm=True,
            pull=False,
        )
        try:
            image_id = follow_build(
                stream, lines, lambda line: ctx.log(self.name, line), log_name=log_path.name, args=build.args
            )
        finally:
            context.close()
            write_atomic(log_path, redact("".join(lines)))
        return image_id


def build_context(config: Config) -> tuple[IO[bytes], str]:
    """The tar the engine builds from — exactly the files the input digest covers (no records, no caches) — and
    the Dockerfile's name in it (one outside the context travels inside it under a generated name, as the SDK does).
    """
    from docker.api.build import process_dockerfile
    from docker.utils.build import create_archive

    assert config.build is not None
    context = str(config.path(config.build.context))
    name, outside = process_dockerfile(config.build.dockerfile, context)
    extra = [(name, outside)] if outside is not None else None
    archive = create_archive(root=context, files=build_inputs(config), extra_files=extra)
    return cast("IO[bytes]", archive), str(name)


def follow_build(
    stream: Iterable[dict[str, Any]],
    lines: list[str],
    show: Any,
    *,
    log_name: str = "NNNN.build.log",
    args: Mapping[str, str] | None = None,
) -> str:
    """Read the engine's build stream: keep the log, show progress, turn `errorDetail` into a failure."""
    step = ""
    step_output: list[str] = []
    image_id: str | None = None
    for chunk in stream:
        text = chunk.get("stream")
        if text:
            text = plain_text(text)
            lines.append(text)
            stripped = text.strip()
            if _STEP.match(stripped):
                step, step_output = stripped, []
            elif stripped:
                step_output += [line.strip() for line in text.splitlines() if line.strip()]
            if stripped:
                show(one_line(stripped, PROGRESS_WIDTH))
        if "errorDetail" in chunk or "error" in chunk:
            message = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error") or "build failed"
            message = plain_text(str(message))
            lines.append(f"ERROR: {message}\n")
            tail = failure_tail(step_output)
            for line in tail:
                show(f"| {clip(line, PROGRESS_WIDTH)}")  # already masked
            raise build_error(step, message, tail, cause=cause_line(step_output), log_name=log_name, args=args)
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
    if image_id is None:
        raise LoopctlError(
            "the engine ended the build without an image id", hint="see the build log", kind=ErrorKind.BUILD
        )
    return image_id


def plain_text(text: str) -> str:
    """Build output without colour codes or other escape sequences; a carriage return starts a new line."""
    return _ESCAPES.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def failure_tail(output: Sequence[str], limit: int = FAILURE_TAIL_LINES) -> list[str]:
    """The failing step's last meaningful lines: its own output, not the engine's bookkeeping."""
    kept = [line for line in output if not _ENGINE_NOISE.match(line)][-limit:]
    return [one_line(line, _LINE_LIMIT) for line in kept]


def build_error(
    step: str,
    message: str,
    tail: Sequence[str] = (),
    *,
    cause: str | None = None,
    log_name: str = "NNNN.build.log",
    args: Mapping[str, str] | None = None,
) -> LoopctlError:
    """Name the Dockerfile step, the engine's message and the step's cause (the toolchain's error line, else its
    last line of output) and last output; the hint says the usual cause and names the whole log's file."""
    lowered = message.lower()
    if " : from " in step.lower() or "pull access denied" in lowered or "manifest unknown" in lowered:
        hint = base_image_hint(step, message, args or {})
    elif "copy failed" in lowered or ("no such file or directory" in lowered and "copy" in step.lower()):
        hint = "a COPY source is missing from the build context (or excluded by .dockerignore)"
    elif "returned a non-zero code" in lowered:
        hint = f"a RUN command failed: its last output is shown; the whole log is {log_name} beside the record"
    else:
        hint = f"read the build log beside the record ({log_name})"
    where = f"{step}: " if step else ""
    head = f"{where}{message.strip()}"
    if tail:
        # The toolchain's error line, else the last line ("No module named pip"): on the line every view shows.
        said = one_line(cause, _LINE_LIMIT) if cause else tail[-1]
        what = "its last line of output" if len(tail) == 1 else f"its last {len(tail)} lines of output"
        head = f"{head} — {said}\n{what}:\n" + "\n".join(tail)
    return LoopctlError(head, hint=hint, kind=ErrorKind.BUILD)


def base_image_hint(step: str, message: str, args: Mapping[str, str]) -> str:
    """What to do in the user's repo when FROM's image cannot be pulled, naming that image."""
    image = _from_image(step, message, args)
    named = f"the base image {image}" if image else "the Dockerfile's base image"
    hint = (
        f"the engine cannot pull {named} (the Dockerfile's FROM): check its name and tag, `docker login` to its "
        "registry if it is private, or `docker pull` it once where that registry is reachable"
    )
    if "$" in step:  # the image comes from the config, not the Dockerfile
        hint += "; FROM takes it from a build arg: set that arg under build.args"
    return hint


_FROM = re.compile(r"(?i)\bFROM\s+(?:--platform=\S+\s+)?(\S+)")
_ARG = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_PULLED = re.compile(r"(?:pull access denied for|manifest for|repository) (\S+?),? (?:not found|does not exist|$)")


def _from_image(step: str, message: str, args: Mapping[str, str]) -> str | None:
    """The image named by the step's FROM (build args put in), or else by the engine's message."""
    found = _FROM.search(step)
    image = _ARG.sub(lambda arg: args.get(arg[1] or arg[2], arg[0]), found[1]) if found else ""
    if image and "$" not in image:
        return image
    pulled = _PULLED.search(message)
    return pulled[1].rstrip(",") if pulled else None


def image_tags(ctx: Context) -> list[str]:
    """`<git-short-sha>[-dirty]` and `loopctl-NNNN`; the commit is the one the record names (git asked once)."""
    git = ctx.git()
    tags = [f"loopctl-{ctx.number:04d}"]
    if git["commit"]:
        tags.insert(0, git["commit"][:12] + ("-dirty" if git["dirty"] else ""))
    return tags


def _local_image(reference: str) -> str | None:
    """The id of the engine's image `reference`, or None; asked over the socket, so an unchanged tree never
    loads the SDK (which answers instead when the socket path cannot, or the engine says something unexpected)."""
    from urllib.parse import quote

    from loopctl.clients.docker_engine import EngineUnavailable, engine_get

    try:
        status, found = engine_get(f"/images/{quote(reference, safe='/:@')}/json")
    except EngineUnavailable:
        status, found = 0, None
    if status == 404:
        return None
    if status == 200 and isinstance(found, dict) and found.get("Id"):
        return str(found["Id"])
    return _local_image_sdk(reference)


def _local_image_sdk(reference: str) -> str | None:
    from docker.errors import ImageNotFound

    from loopctl.clients.docker_engine import api_client

    try:
        return str(api_client().inspect_image(reference)["Id"])
    except ImageNotFound:
        return None


def _tag(image_id: str, repository: str, tag: str) -> None:
    """`docker tag` over the socket (201 Created), else through the SDK, which raises the engine's error."""
    from urllib.parse import quote, urlencode

    from loopctl.clients.docker_engine import EngineUnavailable, api_client, engine_call

    query = urlencode({"repo": repository, "tag": tag})
    try:
        status, _ = engine_call("POST", f"/images/{quote(image_id, safe='/:@')}/tag?{query}")
    except EngineUnavailable:
        status = 0
    if status != 201:
        api_client().tag(image_id, repository, tag)


def _result(
    build: BuildConfig,
    digest: str,
    cached: str,
    image_id: str | None,
    tags: list[str],
    cache_tag: str,
    *,
    pushed: bool = True,
) -> PhaseResult:
    # Found in the registry: nothing was tagged locally, so the input tag is what exists. Nothing pushed: deploy
    # runs this reference, and the input tag names the same inputs every time, so an unchanged tree keeps its
    # container (loopctl-NNNN would differ each iteration and replace it).
    stable = cached == "remote" or not pushed
    section = BuildSection(
        image=build.image,
        reference=cache_tag if stable else f"{build.image}:{tags[-1]}",
        image_id=image_id,
        input_digest=digest,
        cached=cached,
        tags=tags,
        cache_tag=cache_tag,
    )
    detail = {"image_id": image_id, "cached": cached}
    return PhaseResult("ok", detail, section=section)


def _with_note(result: PhaseResult, note: str | None) -> PhaseResult:
    """The build section says why a registry image under the input tag was not reused."""
    if note is None or result.section is None:
        return result
    return replace(
        result,
        detail={**result.detail, "cache_note": note},
        section=result.section.model_copy(update={"cache_note": note}),
    )


def _config(ctx: Context) -> BuildConfig:
    if ctx.config.build is None:
        raise UsageError("no build: block in the config", hint="add one, or skip the phase")
    return ctx.config.build
