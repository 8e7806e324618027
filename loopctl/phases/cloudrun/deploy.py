"""The Cloud Run deploy phase: pin the pushed digest on the service, wait for its revision, and prove it serves."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from loopctl.config import PREVIEW_TAG, CheckConfig, CloudRunConfig, Config, pullable_by_cloud_run
from loopctl.errors import ErrorKind, LoopctlError, UsageError
from loopctl.phases.base import Context, Phase, PhaseResult
from loopctl.phases.cloudrun.api import (
    CALL_TIMEOUT_S,
    CONDITION_FAILED,
    CloudRunApi,
    ConditionLog,
    cloudrun_config,
    connect,
)
from loopctl.phases.cloudrun.release import CloudRunRelease
from loopctl.phases.cloudrun.spec import (
    OWN_PINS,
    PREVIEW_PIN_ANNOTATION,
    Peers,
    apply_config,
    latest_traffic,
    percent_of,
    preview_pin,
    preview_traffic,
    revision_name,
    rollback_pin,
    serving_revision,
    short,
    tag_url,
    traffic_shares,
)
from loopctl.records.sections import DeploySection, image_to_deploy

if TYPE_CHECKING:
    from google.cloud import run_v2
    from google.longrunning import operations_pb2


def cloudrun_phases(config: Config) -> list[Phase]:
    """The deploy phase, plus the release phase when the strategy has something to do after the probe."""
    cloudrun = cloudrun_config(config)
    phases: list[Phase] = [CloudRunDeploy()]
    if cloudrun.strategy == "preview" or cloudrun.rollback_on_failure:
        phases.append(CloudRunRelease())
    return phases


class CloudRunDeploy:
    """Read-modify-write of the service (etag-guarded), then trust only what Cloud Run reports once settled."""

    name = "deploy"

    def __init__(self, *, poll_s: float = 2.0, backoff_s: float = 1.0, call_timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.poll_s = poll_s
        self.backoff_s = backoff_s
        self.call_timeout_s = call_timeout_s

    def run(self, ctx: Context) -> PhaseResult:
        config = cloudrun_config(ctx.config)
        image = image_reference(ctx, config)
        api = connect(
            ctx, self.name, config, poll_s=self.poll_s, backoff_s=self.backoff_s, call_timeout_s=self.call_timeout_s
        )
        before = api.find_service()
        if before is None and not config.allow_missing:
            raise LoopctlError(
                f"Cloud Run service {config.service} does not exist in {config.project}/{config.region}",
                hint="create it first, or set deploy.cloudrun.allow_missing: true",
                kind=ErrorKind.NOT_FOUND,
            )
        unchanged = (
            None if before is None or ctx.options.no_cache else already_serving(before, config, image, ctx.peers)
        )
        if before is not None and unchanged is not None:
            ctx.log(self.name, f"unchanged: {unchanged} already runs {image} with this config and serves traffic")
            url = _probe_url(ctx, before)
            section = _section(config, before, unchanged, url, image, previous=unchanged)
            public = section.public or api.invokable_by_everyone()
            section = section.model_copy(update={"reused": True, "public": public, "retries": api.retries})
            share(ctx, before)
            return PhaseResult("ok", {"revision": unchanged, "url": url}, section=section)
        plan = Plan(config, image, ctx.peers)
        name, before = api.write_fresh(plan.wanted, before)
        if plan.restored:
            ctx.log(self.name, f"traffic was pinned to {plan.restored} by loopctl: restoring LATEST 100%")
        ctx.log(self.name, f"{plan.action} {config.service} in {config.project}/{config.region} with {image}")
        operation = api.wait_operation(name, ConditionLog(lambda line: ctx.log(self.name, line)))
        after = api.settled_service(operation)
        revision = verify(api, after, operation, config, named=plan.revision)
        url = tag_url(after, PREVIEW_TAG) if config.strategy == "preview" else _probe_url(ctx, after)
        ctx.log(self.name, f"{revision} is ready with {percent_of(after, revision)}% of traffic at {url or 'no URL'}")
        section = _section(config, after, revision, url, image, previous=serving_revision(before) if before else None)
        notes: dict[str, object] = {
            "log_uri": api.get_revision(f"{api.service_name}/revisions/{revision}").log_uri or None,
            **({"restored_latest": plan.restored} if plan.restored else {}),
            **({"made_public": True} if plan.made_public else {}),
            "public": section.public or api.invokable_by_everyone(),
            "retries": api.retries,
        }
        share(ctx, after)
        return PhaseResult("ok", {"revision": revision, "url": url}, section=section.model_copy(update=notes))


class Plan:
    """What loopctl writes, recomputed from the service as read before each write attempt."""

    def __init__(self, config: CloudRunConfig, image: str, peers: Peers | None = None) -> None:
        self.config = config
        self.image = image
        self.peers = peers or {}
        self.action = "creating"
        self.revision = ""  # the name loopctl gave the new revision ("" lets Cloud Run name it)
        self.restored: str | None = None  # the rollback pin that was lifted
        self.made_public = False

    def wanted(self, current: run_v2.Service | None) -> run_v2.Service:
        from google.cloud import run_v2

        config = self.config
        service = run_v2.Service(current) if current is not None else run_v2.Service()
        self.action = "creating" if current is None else "updating"
        self.revision = (
            revision_name(config.service, int(service.generation) + 1) if config.strategy == "preview" else ""
        )
        apply_config(service, config, self.image, revision=self.revision, peers=self.peers)
        self.restored = rollback_pin(current) if current is not None and config.strategy == "direct" else None
        if current is not None:
            for key in OWN_PINS:
                service.annotations.pop(key, None)
        if config.strategy == "preview":
            service.traffic = preview_traffic(current or run_v2.Service(), self.revision)
            pinned = preview_pin(current) if current is not None else None
            if pinned:  # so the next direct deploy knows this pin is loopctl's to lift
                service.annotations[PREVIEW_PIN_ANNOTATION] = pinned
        elif current is not None and self.restored:
            service.traffic = latest_traffic(current)
        # On an existing private service too: `public: true` is what the config says the service is. Turning the
        # invoker check off needs run.services.setIamPolicy (roles/run.admin); its 403 names both.
        self.made_public = config.public and (current is None or not current.invoker_iam_disabled)
        if self.made_public:
            service.invoker_iam_disabled = True  # anyone may invoke: no IAM check on requests
        return service


def already_serving(
    before: run_v2.Service, config: CloudRunConfig, image: str, peers: Peers | None = None
) -> str | None:
    """The ready revision when an update would change nothing (direct strategy): template and traffic as wanted."""
    from google.cloud import run_v2

    if config.strategy != "direct" or before.reconciling:
        return None
    wanted = run_v2.Service(before)
    apply_config(wanted, config, image, peers=peers)
    ready, created = short(before.latest_ready_revision), short(before.latest_created_revision)
    if wanted.template != before.template or wanted.labels != before.labels or wanted.ingress != before.ingress:
        return None
    return ready if ready and ready == created and percent_of(before, ready) > 0 else None


def verify(
    api: CloudRunApi,
    service: run_v2.Service,
    operation: operations_pb2.Operation,
    config: CloudRunConfig,
    *,
    named: str = "",
) -> str:
    """The new revision is ready and (for direct deploys) serves traffic; else a failure of the right kind."""
    created, ready = short(service.latest_created_revision), short(service.latest_ready_revision)
    if named and named != ready:
        _raise_revision_failure(api, f"{api.service_name}/revisions/{named}")
    if created and created != ready:
        _raise_revision_failure(api, service.latest_created_revision)
        raise LoopctlError(
            f"revision {created} was created but is not ready; {ready or 'no revision'} is the latest ready one",
            hint="the new revision serves no traffic: look at it in the Cloud Run console",
            kind=ErrorKind.ZERO_TRAFFIC,
        )
    if operation.HasField("error") or service.terminal_condition.state == CONDITION_FAILED:
        message = operation.error.message or service.terminal_condition.message
        raise LoopctlError(f"Cloud Run could not deploy {config.service}: {message}", kind=ErrorKind.DEPLOY_FAILED)
    if config.strategy == "direct" and percent_of(service, ready) == 0:
        if not config.allow_zero_traffic:
            raise _zero_traffic(service, ready, config)
        api.log(f"{ready} serves 0% of traffic (allow_zero_traffic is set)")
    tagged = next((status.revision for status in service.traffic_statuses if status.tag == PREVIEW_TAG), "")
    if config.strategy == "preview" and (tag_url(service, PREVIEW_TAG) is None or (named and tagged != named)):
        raise LoopctlError(
            f"revision {ready} is ready but the service has no URL for tag {PREVIEW_TAG!r} on it",
            hint="check the service's traffic tags in the Cloud Run console",
            kind=ErrorKind.ZERO_TRAFFIC,
        )
    return ready


def _raise_revision_failure(api: CloudRunApi, name: str) -> None:
    revision = api.get_revision(name)
    failed = [condition for condition in revision.conditions if condition.state == CONDITION_FAILED]
    if not failed:
        return
    reasons = [_reason(condition) for condition in failed]
    reason = next((item for item in reasons if item), failed[0].type_)
    message = next((condition.message for condition in failed if condition.message), "no message")
    logs = f"; its logs: {revision.log_uri}" if revision.log_uri else ""
    said = f"revision {short(name)} is not ready ({reason}): {message}"
    denied = _SECRET_DENIED.search(message)
    if denied:  # not the container's fault: its service account may not read the secret
        secret, account = denied["secret"].split("/secrets/", 1)[-1].split("/", 1)[0], denied["account"]
        raise LoopctlError(
            said,
            hint=(
                f"grant {account} roles/secretmanager.secretAccessor on secret {secret} (`gcloud secrets "
                f"add-iam-policy-binding {secret} --member=serviceAccount:{account} "
                "--role=roles/secretmanager.secretAccessor`); the previous revision keeps serving"
            ),
            kind=ErrorKind.SECRET_ACCESS_DENIED,
        )
    raise LoopctlError(
        said,
        hint=f"the previous revision keeps serving; fix the container and deploy again{logs}",
        kind=ErrorKind.REVISION_NOT_READY,
    )


# Cloud Run's condition message for a secret the revision's service account may not access (public reports).
_SECRET_DENIED = re.compile(
    r"Permission denied on secret: (?P<secret>\S+) for Revision service account (?P<account>[^\s]+?)\.?(?:\s|$)"
)


def _reason(condition: run_v2.Condition) -> str:
    from google.cloud import run_v2

    field = run_v2.Condition.pb(condition).WhichOneof("reasons")
    return str(getattr(condition, field).name) if field else ""


def _zero_traffic(service: run_v2.Service, ready: str, config: CloudRunConfig) -> LoopctlError:
    serving = ", ".join(f"{item['revision']} {item['percent']}%" for item in traffic_shares(service) if item["percent"])
    return LoopctlError(
        f"revision {ready} is ready but serves 0% of traffic: traffic is pinned to {serving or 'nothing'}",
        hint=(
            f"`gcloud run services update-traffic {config.service} --to-latest --region {config.region}`, "
            "or set deploy.cloudrun.allow_zero_traffic: true"
        ),
        kind=ErrorKind.ZERO_TRAFFIC,
    )


def image_reference(ctx: Context, config: CloudRunConfig) -> str:
    image = image_to_deploy(ctx.options.image, ctx.sections)
    pushed = ctx.sections.push is not None and bool(ctx.sections.push.pinned)
    if not image or not (ctx.options.image or pushed):
        # A tag the build made and nothing pushed exists on this engine only: Cloud Run could never pull it.
        raise LoopctlError(
            "nothing to deploy: no --image and no pushed digest",
            hint="run the build and push phases, or pass --image REPO@sha256:…",
            kind=ErrorKind.DEPLOY,
        )
    if not config.emulated and not pullable_by_cloud_run(image):
        raise UsageError(
            f"Cloud Run cannot pull {image}: it pulls from Artifact Registry, *.gcr.io and Docker Hub only",
            hint="push to REGION-docker.pkg.dev/PROJECT/REPO/IMAGE and deploy that digest",
        )
    return image


def share(ctx: Context, service: run_v2.Service) -> None:
    """In a project of several services: the service's own URL for `{services.NAME.url}` in its dependents' env.

    Never the preview tag's URL, which the probe uses: a dependent keeps the URL in its revision, and the tag moves to
    the next unverified revision (or goes) once this one is promoted."""
    ctx.share("" if service.default_uri_disabled else str(service.uri))


def _check_url(check: CheckConfig) -> str | None:
    block = check.http or check.websocket
    return block.url if block is not None else None


def _probe_url(ctx: Context, service: run_v2.Service) -> str | None:
    """The service's URL; a service with default_uri_disabled has none to probe: only checks with a `url` run."""
    if not service.default_uri_disabled:
        return str(service.uri) or None
    needing = [check.name for check in ctx.config.probe.checks if not _check_url(check)]
    if needing:
        raise LoopctlError(
            f"{short(service.name)} has default_uri_disabled: no run.app URL to probe for {', '.join(needing)}",
            hint="give those checks a full `url` (your load balancer or domain), or enable the default URL",
            kind=ErrorKind.NO_URL,
        )
    ctx.log("deploy", "default_uri_disabled: no run.app URL; every check names its own url")
    return None


def _section(
    config: CloudRunConfig, service: run_v2.Service, revision: str, url: str | None, image: str, *, previous: str | None
) -> DeploySection:
    return DeploySection(
        target="cloudrun",
        service=config.service,
        revision=revision,
        url=url,
        project=config.project,
        region=config.region,
        generation=int(service.generation),
        strategy=config.strategy,
        traffic=traffic_shares(service),
        previous_revision=previous,
        image=image,
        env=sorted(config.env),  # names only: values may be secrets
        public=bool(service.invoker_iam_disabled),
        audience=next(iter(config.custom_audiences), str(service.uri) or None),  # the probe's ID token is for it
        console_url=(
            f"https://console.cloud.google.com/run/detail/{config.region}/{config.service}/revisions"
            f"?project={config.project}"
        ),
    )
