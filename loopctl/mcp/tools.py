"""What each MCP tool does, over the same core as the CLI: config in, `(data, exit code)` out, errors raised."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopctl.errors import UsageError
from loopctl.exitcodes import ExitCode, for_record
from loopctl.mcp import views
from loopctl.outside_text import one_line

if TYPE_CHECKING:
    from loopctl.config import Config
    from loopctl.mcp.runs import Run
    from loopctl.records.record import CheckRecord, Record
    from loopctl.records.store import Store

Answer = tuple[dict[str, Any], int]


def project(config_path: Path) -> tuple[Config, Store]:
    """The config the server was started with, read again on every call: an edit applies to the next one."""
    from loopctl.config import load_config
    from loopctl.records.store import Store

    config = load_config(config_path, check_env=False)
    return config, Store(config.path(config.iterations_dir))


def load(store: Store, number: int | str | None) -> Record:
    """Iteration `number`, or the latest readable one for None or `latest`."""
    if number is None or number == "latest":
        latest, _ = store.recent(1)
        if not latest:
            raise UsageError(f"no readable iterations in {store.root}", hint="call the iterate tool first")
        return latest[0]
    if isinstance(number, str) and not number.isdigit():
        raise UsageError(f"{number!r} is not an iteration number", hint="give a number, `latest` or `previous`")
    return store.load(int(number))


def report_text(store: Store, record: Record) -> str:
    try:
        return store.report_path(record.number).read_text(encoding="utf-8")
    except OSError:
        return ""


def finished(run: Run, config_path: Path) -> Answer:
    """A run that ended: its error, or its result as `result` gives it."""
    if run.error is not None:
        raise run.error
    data, code = result(config_path, run.number)
    return {"state": run.state(), "result": data}, code


def running(run: Run) -> Answer:
    return {"state": run.state(), "result": None}, int(ExitCode.OK)


def result(config_path: Path, number: int | None, *, detail: str = "summary", cursor: str | None = None) -> Answer:
    config, store = project(config_path)
    record = load(store, number)
    previous = store.load(record.previous) if record.previous is not None else None
    data = views.result_view(
        record, previous, detail=detail, report=report_text(store, record), base=config.base_dir, cursor=cursor
    )
    return data, int(for_record(record))


def evidence(config_path: Path, number: int, check: str, max_lines: int) -> Answer:
    config, store = project(config_path)
    record = load(store, number)
    found = _check(record, check)
    return views.evidence_view(record, found, max_lines=max_lines, base=config.base_dir), 0


def diff(config_path: Path, a: str, b: str, cursor: str | None = None) -> Answer:
    _, store = project(config_path)
    newer = load(store, b)
    if a == "previous":
        before = newer.previous if newer.previous is not None else newer.number - 1
        if before < 1:
            raise UsageError(f"iteration {newer.number} has no earlier iteration to compare with")
        older = store.load(before)
    else:
        older = load(store, a)
    return views.diff_view(older, newer, cursor=cursor), 0


def history(config_path: Path, last: int, cursor: str | None) -> Answer:
    from loopctl.past_iterations import past_rows

    rows = past_rows(config_path, last)
    shown, next_cursor = views.page(rows, cursor)
    return {"iterations": shown, "next_cursor": next_cursor}, 0


def probe(config_path: Path, check: str, url: str | None) -> Answer:
    """One configured check, now, against the URL given or the latest deployment's (else the configured one)."""
    from loopctl.one_check import run_configured_check
    from loopctl.phases.probe import check_record

    config, item, result = run_configured_check(config_path, check, url)
    checked = check_record(item, result)
    code = ExitCode.OK if checked.passed else ExitCode.CHECKS_FAILED
    return views.check_view(checked, full=True, base=config.base_dir), int(code)


def classify(code: int, reason: str) -> Answer:
    from loopctl.probe.explain import explain

    explained = explain(code).to_dict()
    return {**explained, "reason": one_line(reason)} if reason else explained, 0


def _check(record: Record, name: str) -> CheckRecord:
    found = next((check for check in record.checks if check.name == name), None)
    if found is None:
        names = ", ".join(check.name for check in record.checks) or "none ran"
        raise UsageError(f"iteration {record.number} has no check named {name!r}", hint=f"checks: {names}")
    return found
