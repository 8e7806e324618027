"""One module per phase, each a plain object with `name` and `run(ctx) -> PhaseResult`."""

from __future__ import annotations

from loopctl.config import Config
from loopctl.errors import UsageError
from loopctl.runner import Phase


def phases_for(config: Config) -> list[Phase]:
    """The phases this config asks for, in order; heavy modules load only when their phase runs."""
    from loopctl.phases.deploy_url import UrlDeploy
    from loopctl.phases.probe import ProbePhase
    from loopctl.phases.suites import SuitesPhase

    phases: list[Phase] = []
    if config.build is not None or config.push is not None:
        raise UsageError(
            "build and push phases are not available in this version of loopctl",
            hint="remove build:/push: and use deploy.target: url for a service deployed by other means",
        )
    if config.deploy is not None:
        if config.deploy.target != "url":
            raise UsageError(
                f"deploy target {config.deploy.target!r} is not available in this version of loopctl",
                hint="use deploy.target: url with the service's base URL",
            )
        phases.append(UrlDeploy())
    if config.probe.checks:
        phases.append(ProbePhase())
    if config.suites:
        phases.append(SuitesPhase())
    return phases
