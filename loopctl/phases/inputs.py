"""The input digest: a hash of everything a build depends on, so an unchanged tree is never rebuilt."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loopctl.config import BuildConfig, Config
from loopctl.errors import UsageError

if TYPE_CHECKING:
    from loopctl.phases.dockerignore import Matcher
    from loopctl.records.store import Store

INPUT_TAG_PREFIX = "in-"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputRules:
    """Which paths under the build context are inputs of the image.

    The one rule the input digest, the archive sent to the engine and `loop`'s watcher share: a path counts unless
    it is loopctl's own (`own`: the iterations folder) or `.dockerignore` keeps it out. What git ignores still
    counts (an ignored `.env` is copied into the image all the same).
    """

    context: Path
    ignore: Matcher
    own: tuple[str, ...] = ()

    def counts(self, relative: str) -> bool:
        """Whether the file or folder at `relative` (to the context) is an input of the image."""
        posix = relative.replace(os.sep, "/")
        if any(posix == folder or posix.startswith(f"{folder}/") for folder in self.own):
            return False
        return not self.ignore.matches(relative)

    def files(self) -> list[str]:
        """Every input below the context (files and folders), sorted."""
        return sorted(self.ignore.walk(str(self.context), lambda relative: not self.counts(relative)))


def context_rules(context: Path, dockerfile: str, own: Sequence[str] = ()) -> InputRules:
    """The rules of `context`, its `.dockerignore` read as the docker SDK reads it (without importing the SDK)."""
    from loopctl.phases.dockerignore import ignore_matcher

    ignore = context / ".dockerignore"
    patterns: list[str] = []
    if ignore.is_file():
        patterns = [line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()]
        patterns = [line for line in patterns if line and not line.startswith("#")]
    return InputRules(context, ignore_matcher(patterns, dockerfile=dockerfile), tuple(own))


def input_rules(config: Config) -> InputRules:
    """The rules of the configured build: its context, `.dockerignore` and Dockerfile, minus loopctl's own files."""
    build = _build_of(config)
    context = config.path(build.context)
    return context_rules(context, build.dockerfile, own_paths(config, context))


def own_paths(config: Config, context: Path) -> list[str]:
    """loopctl's own files under `context` (the iterations folder: records, reports, logs, lock, caches).

    They are never an input of the image, whatever `.dockerignore` says: otherwise every iteration's record would
    change the next input digest, and records would be copied into the image.
    """
    try:
        relative = config.path(config.iterations_dir).resolve().relative_to(context.resolve())
    except ValueError:
        return []  # outside the context: the engine never sees it
    return [relative.as_posix()] if relative.parts else []


def build_inputs(config: Config) -> list[str]:
    """What the engine receives: the context's files after `.dockerignore`, without loopctl's own files."""
    return input_rules(config).files()


def input_digest(config: Config) -> str:
    """sha256 over the context's files (path, executable bit, content), the Dockerfile, args, target, platform."""
    build = _build_of(config)
    context = config.path(build.context)
    if not context.is_dir():
        raise UsageError(
            f"build.context {context} is not a folder", hint="point build.context at the Dockerfile's folder"
        )
    dockerfile = context / build.dockerfile
    if not dockerfile.is_file():
        raise UsageError(f"no Dockerfile at {dockerfile}", hint="set build.dockerfile (relative to build.context)")
    digest = hashlib.sha256()
    for line in _settings(build):
        digest.update(line.encode() + b"\0")
    digest.update(b"dockerfile\0" + dockerfile.read_bytes() + b"\0")
    for relative in build_inputs(config):
        _hash_file(digest, context, relative)
    return "sha256:" + digest.hexdigest()


def input_tag(digest: str) -> str:
    """The tag that marks an image built from these inputs (registry tags allow 128 characters)."""
    return INPUT_TAG_PREFIX + digest.removeprefix("sha256:")[:32]


def _settings(build: BuildConfig) -> Iterable[str]:
    yield f"platform={build.platform}"
    yield f"target={build.target or ''}"
    yield f"dockerfile={build.dockerfile}"
    for name in sorted(build.args):
        yield f"arg:{name}={build.args[name]}"


def _hash_file(digest: hashlib._Hash, context: Path, relative: str) -> None:
    path = context / relative
    try:
        info = path.lstat()
    except FileNotFoundError:
        return  # vanished between listing and reading: not an input any more
    digest.update(relative.replace(os.sep, "/").encode() + b"\0")
    if stat.S_ISLNK(info.st_mode):
        digest.update(b"link\0" + os.readlink(path).encode() + b"\0")
        return
    if not stat.S_ISREG(info.st_mode):
        digest.update(b"dir\0")
        return
    digest.update(b"x\0" if info.st_mode & 0o111 else b"-\0")
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    digest.update(b"\0")


def _build_of(config: Config) -> BuildConfig:
    if config.build is None:
        raise UsageError("no build: block in the config", hint="add build: {context, image} or deploy with --image")
    return config.build


def reuse_refusal(store: Store, policy: str, digest: str, cache_tag: str, held: str) -> str | None:
    """None when the registry's image under the input tag may stand in for a build; else the line saying why not.

    Anyone who can push to the repository can put any image under `in-<digest>`: the tag alone proves nothing.
    `build.cache: records` (the default) reuses it only when an earlier iteration of this project built these
    inputs itself and pushed that very digest; `registry` trusts the tag (`off` never asks).
    """
    if policy == "registry" or held in built_and_pushed(store, digest):
        return None
    return (
        f"not reusing {cache_tag}: no earlier iteration here built these inputs and pushed its image "
        f"{held[:19]}… (build.cache: records), so it is built again"
    )


def built_and_pushed(store: Store, digest: str) -> set[str]:
    """The image digests iterations recorded pushing after building these inputs themselves (not reusing one)."""
    from loopctl.records.record import Record
    from loopctl.records.store import read_record

    pushed: set[str] = set()
    for number in store.newest_first():
        record = read_record(store.record_path(number))
        if not isinstance(record, Record):
            continue
        for service in record.service_sections.values():  # identical inputs: whichever service built them
            build, push = service.build, service.push
            if build is None or build.input_digest != digest or push is None or push.digest is None:
                continue
            if build.cached in ("no", "local"):
                pushed.add(push.digest)
    return pushed
