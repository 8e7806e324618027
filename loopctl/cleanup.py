"""`loopctl clean`: what loopctl left on the engine and in the registry for a project, and removing it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from loopctl.config import Config
from loopctl.config.services import service_views
from loopctl.phases.inputs import INPUT_TAG_PREFIX

PROJECT_LABEL = "loopctl.project"
ITERATION_LABEL = "loopctl.iteration"
# The tags the build phase makes: `loopctl-NNNN`, `<commit>[-dirty]`, and the input digest's `in-…`.
_ITERATION_TAG = re.compile(r"^loopctl-(\d+)$")
_OWN_TAG = re.compile(rf"^(loopctl-\d+|[0-9a-f]{{12}}(-dirty)?|{re.escape(INPUT_TAG_PREFIX)}[0-9a-f]+)$")

REGISTRY_DEADLINE_S = 120.0  # every request to the registry, listing and deleting: a stuck registry holds no one
Kind = Literal["container", "network", "image", "registry"]


@dataclass(frozen=True)
class Leftover:
    """One thing loopctl made: a container, a network, a local image reference, or a registry manifest."""

    kind: Kind
    name: str
    iteration: int | None = None
    why_kept: str = ""  # empty: it goes
    tags: tuple[str, ...] = ()  # a registry manifest's tags, which go with it


@dataclass
class Sweep:
    """What `clean` found, what it removed (or would), and what it could not."""

    keep: int
    dry_run: bool
    found: list[Leftover] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def removed(self) -> list[Leftover]:
        return [item for item in self.found if not item.why_kept]

    @property
    def kept(self) -> list[Leftover]:
        return [item for item in self.found if item.why_kept]


def sweep(config: Config, *, keep: int, dry_run: bool, registry: bool = True) -> Sweep:
    """Find the project's containers, networks and image tags; remove all but the last `keep` and what serves.

    `registry`: also the registry's manifests (`doctor` leaves them out: it only looks at the engine).
    """
    from loopctl.clients.docker_engine import docker_client

    client = docker_client()
    result = Sweep(keep=keep, dry_run=dry_run)
    containers = _containers(client, config.project, keep)
    serving_images = {str(c.attrs.get("Image", "")) for c, item in containers if item.why_kept}
    images = _project_images(client, config, keep, serving_images)
    kept_digests = {d for image, item in images if item.why_kept for d in image.get("RepoDigests") or []}
    result.found += [item for _, item in containers] + [item for _, item in images]
    _remove_containers(dry_run, containers, result)
    for _, item in images:
        if not item.why_kept and not dry_run:
            _untag(client, item.name, result)
    result.found += _networks(client, config.project, dry_run, result)
    if registry:
        for view in service_views(config):  # each service that builds and pushes has a repository of its own
            result.found += _registry(view.config, kept_digests, keep, dry_run, result)
    return result


def _remove_containers(dry_run: bool, pairs: list[tuple[Any, Leftover]], result: Sweep) -> None:
    from docker.errors import APIError, NotFound

    for container, item in pairs:
        if item.why_kept or dry_run:
            continue
        try:
            container.remove(force=True)
        except NotFound:
            pass
        except APIError as err:
            result.notes.append(f"{item.kind} {item.name} was not removed: {err.explanation or err}")


# --- containers ---------------------------------------------------------------------------------


def _containers(client: Any, project: str, keep: int) -> list[tuple[Any, Leftover]]:
    """The project's containers: the running ones serve, and the last `keep` iterations' stay."""
    found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    ranked = sorted(found, key=_container_iteration, reverse=True)
    recent = {container.id for container in ranked[:keep]}
    pairs = []
    for container in ranked:
        if container.status in ("running", "restarting"):
            why = "serving"
        else:
            why = f"among the last {keep}" if container.id in recent else ""
        pairs.append((container, Leftover("container", container.name, _container_iteration(container), why)))
    return pairs


def _container_iteration(container: Any) -> int:
    value = (container.labels or {}).get(ITERATION_LABEL, "")
    return int(value) if value.isdigit() else -1


# --- images in the engine -----------------------------------------------------------------------


def _project_images(client: Any, config: Config, keep: int, serving: set[str]) -> list[tuple[dict[str, Any], Leftover]]:
    """One entry per image reference loopctl made (`repo:tag`, `repo@digest`) in each service's repository; in
    each, the last `keep` images and those a kept container runs stay (one service's builds never push another's
    out of its last `keep`).

    Read as the engine lists them (`GET /images/json`: Id, RepoTags, RepoDigests, Created), the project's label
    once: the SDK's `images.list` would inspect every image once more, one request each."""
    repositories = [view.config.build.image for view in service_views(config) if view.config.build is not None]
    listed = client.api.images(filters={"label": f"{PROJECT_LABEL}={config.project}"})
    for repository in repositories:
        listed += client.api.images(name=repository)
    images = {str(image["Id"]): image for image in listed}
    pairs = []
    for repository in dict.fromkeys(repositories):
        ranked = sorted(
            (image for image in images.values() if _own_references(image, repository)), key=_image_rank, reverse=True
        )
        recent = {image["Id"] for image in ranked[:keep]}
        for image in ranked:
            why = "a kept container runs it" if image["Id"] in serving else ""
            why = why or (f"among the last {keep}" if image["Id"] in recent else "")
            for reference in _own_references(image, repository):
                pairs.append((image, Leftover("image", reference, _image_iteration(image), why)))
    return pairs


def _own_references(image: dict[str, Any], repository: str | None) -> list[str]:
    """The image's tags loopctl made in `repository`, and its digest references there."""
    names = []
    for reference in image.get("RepoTags") or []:
        repo, _, tag = reference.rpartition(":")
        if repo == repository and _OWN_TAG.match(tag):
            names.append(reference)
    names += [ref for ref in image.get("RepoDigests") or [] if ref.partition("@")[0] == repository]
    return names


def _image_iteration(image: dict[str, Any]) -> int | None:
    numbers = [int(m[1]) for ref in image.get("RepoTags") or [] if (m := _ITERATION_TAG.match(ref.rpartition(":")[2]))]
    return max(numbers) if numbers else None


def _image_rank(image: dict[str, Any]) -> tuple[int, int]:
    # An unchanged iteration re-tags an older image: its newest iteration tag says how recent it is, not its age.
    iteration = _image_iteration(image)
    return (-1 if iteration is None else iteration, int(image.get("Created") or 0))  # seconds since the epoch


def _untag(client: Any, reference: str, result: Sweep) -> None:
    from docker.errors import APIError, NotFound

    try:
        client.images.remove(reference, noprune=False)
    except NotFound:
        pass
    except APIError as err:
        result.notes.append(f"image {reference} was not removed: {err.explanation or err}")


# --- networks -----------------------------------------------------------------------------------


def _networks(client: Any, project: str, dry_run: bool, result: Sweep) -> list[Leftover]:
    """The project's networks that no container uses any more."""
    from docker.errors import APIError, NotFound

    found = []
    for network in client.networks.list(filters={"label": f"{PROJECT_LABEL}={project}"}, greedy=True):
        in_use = bool(network.attrs.get("Containers"))
        found.append(Leftover("network", network.name, None, "containers use it" if in_use else ""))
        if in_use or dry_run:
            continue
        try:
            network.remove()
        except NotFound:
            pass
        except APIError as err:
            result.notes.append(f"network {network.name} was not removed: {err.explanation or err}")
    return found


# --- the registry -------------------------------------------------------------------------------


def _registry(config: Config, kept: set[str], keep: int, dry_run: bool, result: Sweep) -> list[Leftover]:
    """The registry's manifests that carry only loopctl's tags, bar the last `keep` and those kept locally.

    A manifest goes by digest (the distribution API deletes no tag alone), so one with a tag loopctl did not make
    stays.
    """
    from http.client import HTTPException
    from urllib.error import HTTPError, URLError

    from loopctl.phases.docker.registry import credentials_for, registry_client, registry_host

    repository = config.build.image if config.build is not None and config.push is not None else None
    host = registry_host(repository) if repository else None
    if repository is None or host is None:
        return []
    credentials = credentials_for(config, host)
    try:
        with registry_client(host, credentials, actions="pull,push,delete", seconds=REGISTRY_DEADLINE_S) as client:
            found = _registry_manifests(client, repository, kept, keep, result)
            return found if dry_run else _delete(client, repository, found, result)
    except HTTPError as err:
        result.notes.append(f"the registry {host} refused ({err.code} {err.reason}): its tags were left as they are")
    except (URLError, HTTPException, OSError, ValueError) as err:
        result.notes.append(f"the registry {host} could not be asked ({err}): its tags were left as they are")
    return []


def _registry_manifests(client: Any, repository: str, kept: set[str], keep: int, result: Sweep) -> list[Leftover]:
    path = repository.split("/", 1)[1]
    by_digest: dict[str, list[str]] = {}
    for tag in client.tags(path):
        by_digest.setdefault(client.digest(path, tag), []).append(tag)
    kept_digests = {reference.partition("@")[2] for reference in kept}
    ours = {digest: tags for digest, tags in by_digest.items() if all(_OWN_TAG.match(tag) for tag in tags)}
    ranked = sorted(ours, key=lambda digest: _tags_iteration(ours[digest]), reverse=True)
    found = []
    for position, digest in enumerate(ranked):
        why = f"among the last {keep}" if position < keep else "a kept image" if digest in kept_digests else ""
        tags = tuple(sorted(ours[digest]))
        found.append(Leftover("registry", f"{repository}@{digest}", _tags_iteration(tags), why, tags))
    if foreign := len(by_digest) - len(ours):
        result.notes.append(f"{foreign} manifest(s) in {repository} carry tags loopctl did not make: left as they are")
    return found


def _delete(client: Any, repository: str, found: list[Leftover], result: Sweep) -> list[Leftover]:
    """Delete each manifest that goes; a registry that forbids deleting keeps them all, and the note says so."""
    from dataclasses import replace
    from urllib.error import HTTPError

    path = repository.split("/", 1)[1]
    done: list[Leftover] = []
    for position, item in enumerate(found):
        if item.why_kept:
            done.append(item)
            continue
        try:
            client.delete(path, item.name.partition("@")[2])
        except HTTPError as err:
            if err.code != 405:
                raise
            refused = "the registry does not allow deleting"
            left = [replace(rest, why_kept=rest.why_kept or refused) for rest in found[position:]]
            count = sum(1 for rest in found[position:] if not rest.why_kept)
            result.notes.append(
                f"{refused} (405; `storage.delete.enabled: true` in its config allows it): {count} manifest(s) left"
            )
            return done + left
        done.append(item)
    return done


def _tags_iteration(tags: Iterable[str]) -> int:
    return max((int(m[1]) for tag in tags if (m := _ITERATION_TAG.match(tag))), default=-1)
