"""The push phase after Cloud Build: it pushed already; check the registry holds the digest it reported, then pin it."""

from __future__ import annotations

from loopctl.errors import ErrorKind, LoopctlError
from loopctl.phases.base import Context, PhaseResult
from loopctl.phases.cloudbuild.registry import manifest_digest
from loopctl.phases.docker.push import built, push_result


class CloudBuildPushPhase:
    name = "push"

    def run(self, ctx: Context) -> PhaseResult:
        build = built(ctx)
        repository, reference, reported = build.image or "", build.reference or "", build.digest or ""
        if build.cached == "remote":  # the build phase has just read this digest from the registry
            ctx.log(self.name, "already in the registry: nothing to upload")
            return _result(repository, reference, reported, uploaded=False)
        held = manifest_digest(reference, ctx)
        if held is None:
            raise LoopctlError(
                f"Cloud Build reported pushing {reference}, but the registry does not have it",
                hint="check build.image's registry and the build's PUSH step in the build log",
                kind=ErrorKind.PUSH,
            )
        if held != reported:
            raise LoopctlError(
                f"digest mismatch for {reference}: Cloud Build reported {reported}, the registry holds {held}",
                hint="something else pushed the same tag meanwhile: run again, and keep tags to one writer",
                kind=ErrorKind.DIGEST_MISMATCH,
            )
        ctx.log(self.name, f"Cloud Build pushed {reference}@{held} (checked in the registry)")
        return _result(repository, reference, held, uploaded=True)


def _result(repository: str, reference: str, digest: str, *, uploaded: bool) -> PhaseResult:
    return push_result(repository, reference, digest, retries=0, uploaded=uploaded, pushed_by="cloudbuild")
