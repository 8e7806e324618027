"""The probe phase: every configured check, concurrently, through the same code as `loopctl probe`."""

from __future__ import annotations

import asyncio
from typing import Any

from loopctl.config import CheckConfig, Config, cloudrun_target
from loopctl.errors import LoopctlError
from loopctl.outside_text import one_line
from loopctl.phases.base import Context, PhaseResult
from loopctl.probe.classify import DEPTH_AUTH
from loopctl.probe.from_config import app_codes_of, build_check
from loopctl.probe.spec import Check, ProbeResult
from loopctl.records.record import CheckRecord, ErrorInfo, OutcomeRecord, PhaseStatus
from loopctl.records.sections import DeploySection
from loopctl.reports.evidence import SERVER_LOG_IN_HINT, said

# Closes whose cause is usually an exception in the handler, and the handler's log says which.
HANDLER_CODES = (1006, 1011)
# What a check meets when the service's process has exited or is exiting: nothing listens, or the connection is
# dropped before any answer (a WebSocket whose upgrade was accepted got an answer: its 1006 counts for itself).
NO_ANSWER = ("connection_refused", "connection_reset")


class ProbePhase:
    name = "probe"

    def run(self, ctx: Context) -> PhaseResult:
        deploy = ctx.sections.deploy or DeploySection()
        base_url = deploy.url or _configured_url(ctx.config)
        app_codes = app_codes_of(ctx.config.probe.close_codes)
        extra = platform_headers(ctx.config, deploy.audience or base_url)
        specs: list[tuple[CheckConfig, Check]] = []
        not_run: dict[str, CheckRecord] = {}
        for item in ctx.config.probe.checks:
            try:
                specs.append((item, build_check(item, base_url, app_codes, extra)))
            except LoopctlError as err:  # this check cannot run (its token, its URL); the others still do
                not_run[item.name] = not_run_record(item, err)
                ctx.log(self.name, f"{item.name}: cannot run: {err.message}")
        for item, _ in specs:
            ctx.log(self.name, f"{item.name}: probing")
        measured = asyncio.run(_run_all(specs))
        ran = {
            item.name: _front_end_hint(ctx.config, deploy, check_record(item, result, load))
            for (item, _), (result, load) in zip(specs, measured, strict=True)
        }
        records = tuple(ran.get(item.name) or not_run[item.name] for item in ctx.config.probe.checks)
        passed = sum(record.passed for record in records)
        status: PhaseStatus = "ok" if passed == len(records) else "failed"
        detail: dict[str, Any] = {"passed": passed, "total": len(records)}
        if not_run:
            detail["not_run"] = len(not_run)
        if passed < len(records):
            records, detail["evidence"] = self._evidence(ctx, deploy, records)
            exited = "process" in detail["evidence"]
            records = tuple(quote_in_hint(after_exit(record) if exited else record) for record in records)
        return PhaseResult(status, detail, checks=records)

    def _evidence(
        self, ctx: Context, deploy: DeploySection, records: tuple[CheckRecord, ...]
    ) -> tuple[tuple[CheckRecord, ...], Any]:
        """The server's own words for the failing checks, read here because the checks' records are made here."""
        from loopctl.evidence.collect import Evidence, collect, unavailable

        ctx.log(self.name, "reading the server's logs around the failing checks")
        try:
            evidence = collect(ctx.config, deploy, records)
        except Exception as err:  # reading evidence must never cost the checks that ran: they are the verdict
            evidence = Evidence(records, {"read": False, "note": f"evidence unavailable: {unavailable(err)}"})
        if evidence.detail.get("note"):
            ctx.log(self.name, f"server logs: {evidence.detail['note']}")
        return _with_dependencies(ctx, records, evidence.checks), evidence.detail


def _with_dependencies(
    ctx: Context, ran: tuple[CheckRecord, ...], found: tuple[CheckRecord, ...]
) -> tuple[CheckRecord, ...]:
    """What the services this one depends on logged in each failing check's window, read the same way as its own:
    the cause of an error is often a line in a companion's log (a store that refused the command)."""
    from loopctl.config.services import needed_by, service_views
    from loopctl.evidence.collect import collect

    if ctx.service is None or ctx.project_config is None:
        return found
    views = {view.name: view for view in service_views(ctx.project_config)}
    errors: dict[str, dict[str, Any]] = {}
    for name in needed_by(list(views.values()), ctx.service):
        deploy = ctx.deployed.get(name)
        if deploy is None:
            continue
        ctx.log("probe", f"reading {name}'s logs around the failing checks")
        try:
            theirs = collect(views[name].config, deploy, ran)
        except Exception:  # a companion's log is a courtesy: the check's own evidence stands without it
            continue
        for check in theirs.checks:
            if check.server_error is not None:
                errors.setdefault(check.name, {})[name] = check.server_error
    return tuple(
        check.model_copy(update={"dependency_errors": errors[check.name]}) if check.name in errors else check
        for check in found
    )


def after_exit(record: CheckRecord) -> CheckRecord:
    """A check that got no answer at all (refused, or reset before any) while the probe saw the service's process
    exit: marked as the exit's consequence, so the check whose exchange the exit cut short ranks the iteration
    (the checks run at once: one racing a check that crashes the service meets the dying process this way)."""
    if record.passed or record.outcome.category not in NO_ANSWER:
        return record
    return record.model_copy(update={"after_exit": True})


def quote_in_hint(record: CheckRecord) -> CheckRecord:
    """A close that usually means the handler raised (1006, 1011), or a refusal at authentication: the hint ends
    with what the server logged."""
    error = record.server_error
    quoted = record.outcome.code in HANDLER_CODES or record.outcome.depth == DEPTH_AUTH
    if record.passed or error is None or not quoted:
        return record
    hint = f"{record.outcome.hint}{SERVER_LOG_IN_HINT}{said(error)}"
    return record.model_copy(update={"outcome": record.outcome.model_copy(update={"hint": hint})})


async def _run_all(specs: list[tuple[CheckConfig, Check]]) -> list[tuple[ProbeResult, dict[str, Any] | None]]:
    """Every check at once; a check with `load` runs its sessions and reports them beside one result."""
    from loopctl.probe import run_check
    from loopctl.probe.load import Load, run_load

    async def one(item: CheckConfig, check: Check) -> tuple[ProbeResult, dict[str, Any] | None]:
        if item.load is None:
            return await run_check(check), None
        measured = await run_load(check, Load(item.load.concurrency, item.load.duration))
        return measured.result(), measured.to_dict()

    return list(await asyncio.gather(*(one(item, check) for item, check in specs)))


def _configured_url(config: Config) -> str | None:
    return config.deploy.url if config.deploy is not None else None


def platform_headers(config: Config, base_url: str | None) -> tuple[tuple[str, str], ...]:
    """Headers the platform wants in front of the app's own auth: a Google ID token for a private Cloud Run service
    (`audience`: the service URL the deploy phase reported, never a tag URL)."""
    cloudrun = cloudrun_target(config)
    if cloudrun is None or cloudrun.public or not base_url:
        return ()
    from loopctl.phases.cloudrun.auth import probe_headers

    return tuple((name, secret.reveal()) for name, secret in probe_headers(config, base_url))


def _front_end_hint(config: Config, deploy: DeploySection, record: CheckRecord) -> CheckRecord:
    """Google's front end refused the probe: say which of `public` or the invoker binding to change."""
    cloudrun = cloudrun_target(config)
    if cloudrun is None or record.outcome.category != "iam_denied":
        return record
    from loopctl.phases.cloudrun.auth import refused_hint

    outcome = record.outcome.model_copy(update={"hint": refused_hint(cloudrun, deploy)})
    return record.model_copy(update={"outcome": outcome})


def not_run_record(item: CheckConfig, err: LoopctlError) -> CheckRecord:
    """A check that could not run: no outcome on the wire, so its verdict is unknown (the iteration is inconclusive)."""
    message = one_line(err.message)
    return CheckRecord(
        name=item.name,
        priority=item.priority,
        impact=item.impact,
        kind="websocket" if item.websocket is not None else "http",
        passed=False,
        outcome=OutcomeRecord(category="not_run", depth=0, label=f"could not run: {message}", reason=message),
        events_expected=list(item.websocket.expect_events) if item.websocket is not None else [],
        error=ErrorInfo(kind=err.kind, message=message, hint=err.hint),
    )


def check_record(item: CheckConfig, result: ProbeResult, load: dict[str, Any] | None = None) -> CheckRecord:
    return result.to_record(item.name, priority=item.priority, impact=item.impact, load=load)
