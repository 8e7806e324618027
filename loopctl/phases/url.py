"""The `url` deploy target: a service deployed by other means; the phase only records where it is."""

from __future__ import annotations

from loopctl.phases.base import Context, PhaseResult
from loopctl.records.sections import DeploySection


class UrlDeploy:
    name = "deploy"

    def run(self, ctx: Context) -> PhaseResult:
        deploy = ctx.config.deploy
        assert deploy is not None and deploy.url is not None  # phases_for only adds this phase then
        section = DeploySection(target="url", service=None, revision=None, url=deploy.url)
        return PhaseResult("ok", {"url": deploy.url}, section=section)
