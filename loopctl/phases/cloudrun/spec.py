"""What loopctl changes in a Cloud Run Service (template, traffic) and how it reads traffic back."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loopctl import __version__
from loopctl.config import PREVIEW_TAG, CloudRunConfig, SecretManagerRef
from loopctl.config.services import SERVICE_REF, fill_refs
from loopctl.errors import ErrorKind, LoopctlError, UsageError

if TYPE_CHECKING:
    from google.cloud import run_v2

CLIENT = "loopctl"  # Service.client: the console shows which tool deployed
ROLLBACK_ANNOTATION = "loopctl/rolled-back-to"  # our namespace: the revision a rollback pinned traffic to
PREVIEW_PIN_ANNOTATION = "loopctl/preview-pinned-to"  # the revision a preview pinned LATEST's share to
OWN_PINS = (ROLLBACK_ANNOTATION, PREVIEW_PIN_ANNOTATION)
_INGRESS = {"all": 1, "internal": 2, "internal-and-cloud-load-balancing": 3}
_RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")

Peers = Mapping[str, Mapping[str, str]]  # what the services deployed before this one made known: {name: {url, host}}


def short(name: str) -> str:
    """`projects/…/revisions/svc-00001-abc` → `svc-00001-abc` (the API uses both forms)."""
    return name.rsplit("/", 1)[-1]


def revision_name(service: str, generation: int) -> str:
    """A revision name of our own, Cloud Run's style: `SERVICE-00007-xyz` (service names are under 50 characters)."""
    return f"{service}-{generation:05d}-{''.join(secrets.choice(string.ascii_lowercase) for _ in range(3))}"


def apply_config(
    service: run_v2.Service, config: CloudRunConfig, image: str, *, revision: str = "", peers: Peers | None = None
) -> None:
    """Set what config.yaml manages on the service; leave everything else as it was read.

    `revision` names the new revision; empty lets Cloud Run name it (a name left from an earlier deploy would
    collide, so it is always overwritten). `peers` fill `{services.NAME.url}` and `.host` in the env."""
    from google.cloud import run_v2

    service.client = CLIENT
    service.client_version = __version__
    template = service.template
    template.revision = revision
    if not template.containers:
        template.containers.append(run_v2.Container())
    container = template.containers[0]
    container.image = image
    if container.ports:
        container.ports[0].container_port = config.port
    else:
        container.ports.append(run_v2.ContainerPort(name="http1", container_port=config.port))
    container.env = _env(container, config, peers or {})
    _resources(container, config)
    _scaling_and_identity(template, config)
    if config.ingress is not None:
        service.ingress = run_v2.IngressTraffic(_INGRESS[config.ingress])
    for key, value in config.labels.items():
        service.labels[key] = value


def _env(container: run_v2.Container, config: CloudRunConfig, peers: Peers) -> list[run_v2.EnvVar]:
    """The config's env, references to other services filled; Secret Manager references set elsewhere (console,
    gcloud) are kept."""
    reserved = [name for name in config.env if name in _RESERVED_ENV]
    if reserved:
        raise UsageError(
            f"deploy.cloudrun.env sets {', '.join(reserved)}, which Cloud Run sets itself",
            hint="set the port with deploy.cloudrun.port",
        )
    kept = [item for item in container.env if "value_source" in item and item.name not in config.env]
    return [*kept, *(_env_var(name, value, peers) for name, value in config.env.items())]


def _env_var(name: str, value: object, peers: Peers) -> run_v2.EnvVar:
    """A literal value, or a Secret Manager reference Cloud Run resolves: a secret never travels as plain text."""
    from google.cloud import run_v2

    if isinstance(value, str):
        return run_v2.EnvVar(name=name, value=_filled(name, value, peers))
    if isinstance(value, SecretManagerRef):
        reference = run_v2.SecretKeySelector(secret=value.secret, version=value.version)
        return run_v2.EnvVar(name=name, value_source=run_v2.EnvVarSource(secret_key_ref=reference))
    raise UsageError(
        f"deploy.cloudrun.env.{name}: a secret on Cloud Run is a Secret Manager reference",
        hint=f"write {name}: {{secret: NAME, version: latest}}",
    )


def _filled(name: str, value: str, peers: Peers) -> str:
    """`{services.NAME.url}` as NAME's deploy made it known; a reference left unfilled would reach the container as
    text, so it fails here instead."""
    filled = fill_refs(value, peers)
    unknown = SERVICE_REF.search(filled)
    if unknown is None:
        return filled
    raise LoopctlError(
        f"deploy.cloudrun.env.{name}: {unknown[0]} is not known: {unknown[1]}'s deploy made no URL known",
        hint=f"give {unknown[1]} a URL (Cloud Run's default run.app URL), or write the address into {name} itself",
        kind=ErrorKind.NO_URL,
    )


def _resources(container: run_v2.Container, config: CloudRunConfig) -> None:
    if config.cpu is not None:
        container.resources.limits["cpu"] = config.cpu
    if config.memory is not None:
        container.resources.limits["memory"] = config.memory


def _scaling_and_identity(template: run_v2.RevisionTemplate, config: CloudRunConfig) -> None:
    from google.protobuf import duration_pb2

    if config.min_instances is not None:
        template.scaling.min_instance_count = config.min_instances
    if config.max_instances is not None:
        template.scaling.max_instance_count = config.max_instances
    if config.request_timeout is not None:
        template.timeout = duration_pb2.Duration(seconds=config.request_timeout)
    if config.service_account is not None:
        template.service_account = config.service_account


def preview_traffic(service: run_v2.Service, revision: str) -> list[run_v2.TrafficTarget]:
    """Today's split pinned by revision name, plus the named new revision under the preview tag at 0%.

    Tagging the name, not LATEST, means a deploy by someone else between our deploy and our probe cannot
    make the tag URL serve their code."""
    from google.cloud import run_v2

    latest_ready = short(service.latest_ready_revision)
    if not latest_ready:  # nothing serves yet: the first revision must take all the traffic
        return [run_v2.TrafficTarget(type_=_BY_NAME, revision=revision, percent=100, tag=PREVIEW_TAG)]
    targets: list[run_v2.TrafficTarget] = []
    for target in service.traffic:
        if target.tag == PREVIEW_TAG:
            continue
        if target.type_ == run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST:
            # LATEST would hand the new revision this share as soon as it is ready.
            target = run_v2.TrafficTarget(type_=_BY_NAME, revision=latest_ready, percent=target.percent, tag=target.tag)
        targets.append(target)
    return [*targets, run_v2.TrafficTarget(type_=_BY_NAME, revision=revision, percent=0, tag=PREVIEW_TAG)]


def all_traffic_to(service: run_v2.Service, revision: str) -> list[run_v2.TrafficTarget]:
    """100% to one revision; LATEST when it is the latest ready one, so later deploys serve again."""
    from google.cloud import run_v2

    if revision == short(service.latest_ready_revision):
        return latest_traffic(service)
    return [run_v2.TrafficTarget(type_=_BY_NAME, revision=revision, percent=100), *_kept_tags(service)]


def latest_traffic(service: run_v2.Service) -> list[run_v2.TrafficTarget]:
    """LATEST 100%, every tag but the preview one kept (at 0%, on the revision it names)."""
    from google.cloud import run_v2

    return [run_v2.TrafficTarget(type_=_LATEST, percent=100), *_kept_tags(service)]


def _kept_tags(service: run_v2.Service) -> list[run_v2.TrafficTarget]:
    from google.cloud import run_v2

    return [
        run_v2.TrafficTarget(type_=_BY_NAME, revision=status.revision, percent=0, tag=status.tag)
        for status in service.traffic_statuses
        if status.tag and status.tag != PREVIEW_TAG and status.revision
    ]


def preview_pin(service: run_v2.Service) -> str | None:
    """The revision a preview deploy pins LATEST's share to (None when traffic has no LATEST target to pin)."""
    from google.cloud import run_v2

    latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    has_latest = any(target.type_ == latest and target.tag != PREVIEW_TAG for target in service.traffic)
    pinned = short(service.latest_ready_revision) if has_latest else ""
    return pinned or service.annotations.get(PREVIEW_PIN_ANNOTATION) or None


def without_preview_tag(service: run_v2.Service) -> list[run_v2.TrafficTarget]:
    """The traffic as it is, less the preview tag's 0% target: what a preview changed besides the pin."""
    return [target for target in service.traffic if not (target.tag == PREVIEW_TAG and not target.percent)]


def rollback_pin(service: run_v2.Service) -> str | None:
    """The revision loopctl pinned (a rollback, or a preview that was never promoted), when traffic is still exactly
    that pin (a 0% preview tag aside); None for any other split."""
    pinned = next((service.annotations[key] for key in OWN_PINS if service.annotations.get(key)), None)
    untagged = [share for share in traffic_shares(service) if share["percent"]]
    if pinned and len(untagged) == 1 and untagged[0]["revision"] == pinned and untagged[0]["percent"] == 100:
        by_name = [target for target in service.traffic if target.percent and target.revision == pinned]
        return pinned if by_name else None
    return None


def traffic_shares(service: run_v2.Service) -> list[dict[str, Any]]:
    """traffic_statuses with LATEST resolved to a revision name: `[{"revision", "percent", "tag"}]`."""
    latest_ready = short(service.latest_ready_revision)
    return [
        {"revision": status.revision or latest_ready, "percent": status.percent, "tag": status.tag or None}
        for status in service.traffic_statuses
    ]


def percent_of(service: run_v2.Service, revision: str) -> int:
    return sum(share["percent"] for share in traffic_shares(service) if share["revision"] == revision)


def serving_revision(service: run_v2.Service) -> str | None:
    """The revision with the largest share of traffic (the latest ready one when nothing is split)."""
    shares: dict[str, int] = {}
    for share in traffic_shares(service):
        shares[share["revision"]] = shares.get(share["revision"], 0) + share["percent"]
    busiest = max(shares, key=lambda name: shares[name], default=None)
    if busiest and shares[busiest] > 0:
        return busiest
    return short(service.latest_ready_revision) or None


def tag_url(service: run_v2.Service, tag: str) -> str | None:
    return next((status.uri for status in service.traffic_statuses if status.tag == tag and status.uri), None)


_LATEST = 1  # TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
_BY_NAME = 2  # TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
