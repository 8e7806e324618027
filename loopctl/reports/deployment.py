"""The report's Deployment table and header lines: each phase's row, and what build, push and deploy produced."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from loopctl.records.record import PhaseRecord, Record
from loopctl.records.sections import BuildSection, DeploySection, PushSection
from loopctl.reports.services import sections_of
from loopctl.reports.tables import DASH, PHASE_MARKS, code, headline, owned_table, seconds, short_digest, text


def deployment_table(record: Record, *, emoji: bool) -> list[str]:
    """One row per phase; with several services, per service and phase, the service named in its own column."""
    if not record.phases:
        return ["No phase ran."]
    rows = []
    for phase in record.phases:
        result = f"{PHASE_MARKS.get(phase.status, '')} {phase.status}".strip() if emoji else phase.status
        duration = DASH if phase.status == "skipped" else seconds(phase.duration_s)
        rows.append((phase.service, [text(phase.name), result, duration, phase_detail(record, phase)]))
    return owned_table(record, ["Phase", "Result", "Duration", "Detail"], rows)


def phase_detail(record: Record, phase: PhaseRecord) -> str:
    """What the phase produced, from the record's own fields; the error message when it failed."""
    if phase.error is not None and phase.status in ("failed", "aborted"):
        return headline(phase.error.message)
    if phase.status == "skipped":
        return DASH
    describe = _PHASE_DETAILS.get(phase.name)
    return describe(record, phase) if describe else DASH


def cloud_build_line(build: BuildSection, *, label: str = "Cloud Build") -> list[str]:
    """A link to the build in the Cloud Console, made here from the record's ids (each percent-encoded)."""
    if build.builder != "cloudbuild" or not build.build_id:
        return []
    project, region, build_id = (quote(value or "", safe="") for value in (build.project, build.region, build.build_id))
    url = f"https://console.cloud.google.com/cloud-build/builds;region={region}/{build_id}?project={project}"
    return [f"- **{label}**: [{code(build.build_id)}]({url})"]


def _build_detail(record: Record, phase: PhaseRecord) -> str:
    build = sections_of(record, phase.service).build or BuildSection()
    parts = [code(short_digest(build.image_id))] if build.image_id else []
    if build.builder == "cloudbuild" and build.build_id:
        parts.append(f"Cloud Build {code(build.build_id)}{_cloud_build_times(build)}")
    cached = build.cached
    if cached:
        parts.append("not cached" if cached == "no" else f"cached ({cached})")
    if build.cache_note:
        parts.append(text(build.cache_note))
    return ", ".join(parts) or DASH


def _cloud_build_times(build: BuildSection) -> str:
    """Queue and work time apart: a slow queue and a slow build call for different fixes."""
    queued, working = build.queued_s, build.working_s
    times = [
        f"{label} {value:.1f}s" for label, value in (("queued", queued), ("working", working)) if value is not None
    ]
    return f" ({', '.join(times)})" if times else ""


def _push_detail(record: Record, phase: PhaseRecord) -> str:
    push = sections_of(record, phase.service).push or PushSection()
    reference, digest = push.reference, push.digest
    detail = code(f"{reference}@{digest}") if reference and digest else code(str(reference or digest or ""))
    detail = f"{detail} (already in the registry)" if push.uploaded is False else detail
    return detail + _retries(push)


def _retries(section: PushSection | DeploySection) -> str:
    count = section.retries or 0
    return f", after {count} retr{'y' if count == 1 else 'ies'}" if count else ""


def _deploy_detail(record: Record, phase: PhaseRecord) -> str:
    deploy = sections_of(record, phase.service).deploy or DeploySection()
    name = deploy.revision or deploy.service
    parts = [code(name)] if name else []
    if deploy.url:
        parts.append(text(deploy.url))
    detail = " at ".join(parts) or DASH
    detail = f"{detail} (unchanged, already running)" if deploy.reused else detail
    return detail + _retries(deploy) + _cloudrun_notes(deploy)


def _cloudrun_notes(deploy: DeploySection) -> str:
    """What loopctl changed besides the revision, and where Cloud Run shows the revision's logs and service."""
    notes = []
    if deploy.restored_latest:
        notes.append(f"traffic back on LATEST 100% (loopctl's rollback had pinned {code(deploy.restored_latest)})")
    if deploy.made_public:
        notes.append("made public (allUsers may invoke)")
    for label, link in (("logs", deploy.log_uri), ("console", deploy.console_url)):
        if _safe_link(link):
            notes.append(f"[{label}]({link})")
    return "; " + "; ".join(notes) if notes else ""


def _safe_link(url: object) -> bool:
    """Only Google Cloud console links, with nothing that could end a markdown link or a table cell."""
    return (
        isinstance(url, str)
        and url.startswith("https://console.cloud.google.com/")
        and not any(character in url for character in " ()[]<>|`\n")
    )


def _probe_detail(record: Record, phase: PhaseRecord) -> str:
    """The checks this probe ran: with several services, each probes its own."""
    checks = [check for check in record.checks if phase.service is None or check.service == phase.service]
    passed = sum(check.passed for check in checks)
    not_run = [text(check.name) for check in checks if not check.ran]
    could_not = f"; could not run: {', '.join(not_run)}" if not_run else ""
    return f"{passed}/{len(checks)} checks passed{could_not}"


def _suites_detail(record: Record, phase: PhaseRecord) -> str:
    passed = sum(suite.passed for suite in record.suites)
    failed = sum(suite.failed for suite in record.suites)
    skipped = sum(suite.skipped for suite in record.suites)
    counts = f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
    errors = [f"{text(suite.name)} ({text(suite.error.kind)})" for suite in record.suites if suite.error is not None]
    left = [f"{text(suite.name)} ({len(suite.left_running)})" for suite in record.suites if suite.left_running]
    counts += f"; failed as a whole: {', '.join(errors)}" if errors else ""
    return counts + (f"; left processes running, ended by loopctl: {', '.join(left)}" if left else "")


_PHASE_DETAILS: dict[str, Callable[[Record, PhaseRecord], str]] = {
    "build": _build_detail,
    "push": _push_detail,
    "deploy": _deploy_detail,
    "probe": _probe_detail,
    "suites": _suites_detail,
}
