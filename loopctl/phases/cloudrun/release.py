"""After the probe: promote a previewed revision that passed, or put traffic back on the previous one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loopctl.config import PREVIEW_TAG
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.base import Context, PhaseResult
from loopctl.phases.cloudrun.api import CloudRunApi, ConditionLog, cloudrun_config, connect
from loopctl.phases.cloudrun.spec import (
    OWN_PINS,
    ROLLBACK_ANNOTATION,
    all_traffic_to,
    percent_of,
    without_preview_tag,
)
from loopctl.records.sections import DeploySection, ReleaseSection

if TYPE_CHECKING:
    from google.cloud import run_v2
    from google.longrunning import operations_pb2

TRAFFIC_ONLY = ("traffic", "annotations")  # what a promotion or a rollback changes, as update-mask paths


class CloudRunRelease:
    """Moves traffic once the probe has spoken; with nothing verified, it leaves traffic where it is."""

    name = "release"

    def __init__(self, *, poll_s: float = 2.0, backoff_s: float = 1.0) -> None:
        self.poll_s = poll_s
        self.backoff_s = backoff_s

    def run(self, ctx: Context) -> PhaseResult:
        config = cloudrun_config(ctx.config)
        deploy = ctx.sections.deploy or DeploySection()
        revision = deploy.revision
        if not revision:
            return _done({"action": "none", "reason": "nothing was deployed"})
        passed, why = verdict(ctx)
        if config.strategy == "preview":
            if passed is not True:
                ctx.log(self.name, f"not promoting {revision}: {why}")
                removed = self._drop_preview_tag(ctx, revision)
                return _done({"action": "not_promoted", "revision": revision, "reason": why, "tag_removed": removed})
            url = self._move(ctx, revision, rollback=False)
            return _done({"action": "promoted", "revision": revision, "url": url})
        previous = deploy.previous_revision
        if passed is not False or not config.rollback_on_failure:
            return _done({"action": "none", "revision": revision, "reason": why})
        if not previous or previous == revision:
            return _done(
                {"action": "none", "revision": revision, "reason": f"{why}; no earlier revision to go back to"}
            )
        self._move(ctx, previous, rollback=True)
        ctx.log(self.name, f"traffic stays pinned to {previous} until loopctl's next direct deploy restores LATEST")
        return _done({"action": "rolled_back", "to": previous, "from": revision, "reason": why})

    def _drop_preview_tag(self, ctx: Context, revision: str) -> bool:
        """Undo what the preview added: its tag on `revision` at 0%. The pin on the revision that served stays (LATEST
        is now the unverified revision); its annotation lets the next direct deploy lift it. False when the preview
        revision serves traffic itself (the first revision of a service) or the tag is gone already."""
        api = self._connect(ctx)
        current = api.find_service()
        if current is None or percent_of(current, revision) or without_preview_tag(current) == list(current.traffic):
            return False
        ctx.log(self.name, f"removing the {PREVIEW_TAG} tag from {revision}")

        def untag(service: run_v2.Service) -> None:
            service.traffic = without_preview_tag(service)

        self._write_traffic(ctx, api, current, untag)
        return True

    def _move(self, ctx: Context, revision: str, *, rollback: bool) -> str:
        """All traffic to `revision`; returns the service URL once Cloud Run reports the move.

        A rollback pins traffic by name, and Cloud Run keeps that split for every later deploy: the annotation
        records that loopctl made the pin, so its next direct deploy may lift it (and only that pin).

        Only traffic and annotations change, and only they are sent (an update mask): the template as read carries
        Cloud Run's defaults and names the current revision, and sent back it is "a different configuration" under a
        taken revision name (409). The revision name is cleared too, for a server that would ignore the mask."""
        api = self._connect(ctx)
        ctx.log(self.name, f"sending 100% of traffic to {revision}")

        def move(service: run_v2.Service) -> None:
            service.traffic = all_traffic_to(service, revision)
            for key in OWN_PINS:
                service.annotations.pop(key, None)
            if rollback:
                service.annotations[ROLLBACK_ANNOTATION] = revision

        operation = self._write_traffic(ctx, api, api.find_service(), move)
        after = api.settled_service(operation)
        if operation.HasField("error") or percent_of(after, revision) != 100:
            reason = operation.error.message or f"{revision} has {percent_of(after, revision)}% of traffic"
            raise LoopctlError(f"traffic did not move to {revision}: {reason}", kind=ErrorKind.RELEASE_FAILED)
        return str(after.uri)

    def _connect(self, ctx: Context) -> CloudRunApi:
        return connect(ctx, self.name, cloudrun_config(ctx.config), poll_s=self.poll_s, backoff_s=self.backoff_s)

    def _write_traffic(
        self,
        ctx: Context,
        api: CloudRunApi,
        current: run_v2.Service | None,
        change: Callable[[run_v2.Service], None],
    ) -> operations_pb2.Operation:
        """Write the service as read (read again before a retry) with `change` made to its traffic and annotations,
        the revision name cleared and only those fields in the update mask; returns the finished operation."""
        from google.cloud import run_v2

        def changed(now: run_v2.Service | None) -> run_v2.Service:
            if now is None:
                raise LoopctlError(f"service {api.config.service} disappeared before release", kind=ErrorKind.NOT_FOUND)
            service = run_v2.Service(now)
            service.template.revision = ""
            change(service)
            return service

        name, _ = api.write_fresh(changed, current, fields=TRAFFIC_ONLY)
        return api.wait_operation(name, ConditionLog(lambda line: ctx.log(self.name, line)))


def verdict(ctx: Context) -> tuple[bool | None, str]:
    """Did what checked the new revision pass (the probe's checks, and the suites when they ran)? None: nothing ran."""
    probe = ctx.results.get("probe")
    if probe is None or not probe.checks:
        return None, "the probe did not run"
    failed = [check.name for check in probe.checks if not check.passed]
    if failed:
        return False, f"probe failed: {', '.join(failed)}"
    suites = ctx.results.get("suites")
    if suites is not None and suites.status != "ok":
        return False, "test suites failed"
    return True, "probe passed"


def _done(written: dict[str, Any]) -> PhaseResult:
    detail: dict[str, Any] = {key: written[key] for key in ("action", "revision", "to") if key in written}
    return PhaseResult("ok", detail, section=ReleaseSection.model_validate(written))
