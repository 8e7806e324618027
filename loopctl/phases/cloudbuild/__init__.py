"""`build.builder: cloudbuild`: the build runs on Cloud Build, which also pushes; loopctl checks what it pushed."""

from __future__ import annotations

from loopctl.config import Config
from loopctl.phases.base import Phase


def cloudbuild_phases(config: Config) -> list[Phase]:
    """The build phase and the phase that checks Cloud Build's push: it always pushes, push: block or not."""
    from loopctl.phases.cloudbuild.build import CloudBuildPhase
    from loopctl.phases.cloudbuild.verify import CloudBuildPushPhase

    return [CloudBuildPhase(), CloudBuildPushPhase()]
