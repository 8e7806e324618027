"""One module per phase, each a plain object with `name` and `run(ctx) -> PhaseResult`."""

from __future__ import annotations

from loopctl.config import Config
from loopctl.phases.base import Phase


def phases_for(config: Config) -> list[Phase]:
    """The phases this config asks for, in order; heavy modules load only when their phase runs."""
    from loopctl.phases.probe import ProbePhase
    from loopctl.phases.suites import SuitesPhase

    phases: list[Phase] = []
    on_cloud_build = config.build is not None and config.build.builder == "cloudbuild"
    if on_cloud_build:
        from loopctl.phases.cloudbuild import cloudbuild_phases

        phases += cloudbuild_phases(config)  # Cloud Build pushes: its second phase checks the push instead
    elif config.build is not None:
        from loopctl.phases.docker.build import BuildPhase

        phases.append(BuildPhase())
    if config.push is not None and not on_cloud_build:
        from loopctl.phases.docker.push import PushPhase

        phases.append(PushPhase())
    release: list[Phase] = []
    if config.deploy is not None:
        deploy, release = _deploy_phases(config)
        phases.append(deploy)
    if config.probe.checks:
        phases.append(ProbePhase())
    if config.suites:
        phases.append(SuitesPhase())
    return phases + release


def project_phases(config: Config) -> list[Phase]:
    """A project of several services: the phases that run once for all of them (its suites)."""
    from loopctl.phases.suites import SuitesPhase

    return [SuitesPhase()] if config.suites else []


def _deploy_phases(config: Config) -> tuple[Phase, list[Phase]]:
    assert config.deploy is not None
    if config.deploy.target == "docker":
        from loopctl.phases.docker.deploy import DockerDeploy

        return DockerDeploy(), []
    if config.deploy.target == "cloudrun":
        from loopctl.phases.cloudrun.deploy import cloudrun_phases

        deploy, *release = cloudrun_phases(config)
        return deploy, release
    if config.deploy.target == "compose":
        from loopctl.phases.compose.deploy import ComposeDeploy

        return ComposeDeploy(), []
    from loopctl.phases.url import UrlDeploy

    return UrlDeploy(), []
