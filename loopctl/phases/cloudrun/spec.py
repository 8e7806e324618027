"""What loopctl changes in a Cloud Run Service (template, traffic) and how it reads traffic back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopctl.config import CloudRunConfig
from loopctl.errors import UsageError
from loopctl.secrets_config import SecretRef

if TYPE_CHECKING:
    from google.cloud import run_v2

PREVIEW_TAG = "loopctl"
_INGRESS = {"all": 1, "internal": 2, "internal-and-cloud-load-balancing": 3}
_RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")


def short(name: str) -> str:
    """`projects/…/revisions/svc-00001-abc` → `svc-00001-abc` (the API uses both forms)."""
    return name.rsplit("/", 1)[-1]


def apply_config(service: run_v2.Service, config: CloudRunConfig, image: str) -> None:
    """Set what config.yaml manages on the service; leave everything else as it was read."""
    from google.cloud import run_v2

    template = service.template
    template.revision = ""  # a name left from an earlier deploy would collide: Cloud Run names the new one
    if not template.containers:
        template.containers.append(run_v2.Container())
    container = template.containers[0]
    container.image = image
    if container.ports:
        container.ports[0].container_port = config.port
    else:
        container.ports.append(run_v2.ContainerPort(name="http1", container_port=config.port))
    container.env = _env(container, config)
    _resources(container, config)
    _scaling_and_identity(template, config)
    if config.ingress is not None:
        service.ingress = run_v2.IngressTraffic(_INGRESS[config.ingress])
    for key, value in config.labels.items():
        service.labels[key] = value


def _env(container: run_v2.Container, config: CloudRunConfig) -> list[run_v2.EnvVar]:
    """The config's env, secrets read now; Secret Manager references set elsewhere are kept."""
    from google.cloud import run_v2

    reserved = [name for name in config.env if name in _RESERVED_ENV]
    if reserved:
        raise UsageError(
            f"deploy.cloudrun.env sets {', '.join(reserved)}, which Cloud Run sets itself",
            hint="set the port with deploy.cloudrun.port",
        )
    kept = [item for item in container.env if "value_source" in item and item.name not in config.env]
    ours = [run_v2.EnvVar(name=name, value=_value(value)) for name, value in config.env.items()]
    return [*kept, *ours]


def _value(value: str | SecretRef) -> str:
    return value if isinstance(value, str) else value.resolve().reveal()


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
    if config.timeout_s is not None:
        template.timeout = duration_pb2.Duration(seconds=config.timeout_s)
    if config.service_account is not None:
        template.service_account = config.service_account


def preview_traffic(service: run_v2.Service) -> list[run_v2.TrafficTarget]:
    """Today's split pinned by revision name, plus the new revision under the preview tag at 0%."""
    from google.cloud import run_v2

    latest_ready = short(service.latest_ready_revision)
    targets: list[run_v2.TrafficTarget] = []
    for target in service.traffic:
        if target.tag == PREVIEW_TAG:
            continue
        if target.type_ == run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST:
            # LATEST would hand the new revision this share as soon as it is ready.
            target = run_v2.TrafficTarget(type_=_BY_NAME, revision=latest_ready, percent=target.percent, tag=target.tag)
        targets.append(target)
    if not latest_ready:  # nothing serves yet: the first revision must take all the traffic
        return [run_v2.TrafficTarget(type_=_LATEST, percent=100, tag=PREVIEW_TAG)]
    return [*targets, run_v2.TrafficTarget(type_=_LATEST, percent=0, tag=PREVIEW_TAG)]


def all_traffic_to(service: run_v2.Service, revision: str) -> list[run_v2.TrafficTarget]:
    """100% to one revision; LATEST when it is the latest ready one, so later deploys serve again."""
    from google.cloud import run_v2

    others = [
        run_v2.TrafficTarget(type_=_BY_NAME, revision=status.revision, percent=0, tag=status.tag)
        for status in service.traffic_statuses
        if status.tag and status.tag != PREVIEW_TAG and status.revision
    ]
    if revision == short(service.latest_ready_revision):
        return [run_v2.TrafficTarget(type_=_LATEST, percent=100), *others]
    return [run_v2.TrafficTarget(type_=_BY_NAME, revision=revision, percent=100), *others]


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
