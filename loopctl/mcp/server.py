"""`loopctl mcp`: a Model Context Protocol server over stdio, built on the official SDK's `MCPServer`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from loopctl import __version__
from loopctl.errors import ErrorKind, LoopctlError
from loopctl.mcp import tools
from loopctl.mcp.runs import Run, Runner
from loopctl.mcp.views import RESULT_BUDGET
from loopctl.terminal.envelope import envelope, error_entry

MAX_WAIT_S = 55.0  # agent clients time a tool call out at about 60 s
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, idempotent_hint=False, destructive_hint=False, open_world_hint=False)


class ErrorEntry(BaseModel):
    kind: str
    message: str
    hint: str = ""


class Envelope(BaseModel):
    """What every tool returns, the same envelope `--json` prints: `data` is the tool's own answer."""

    loopctl: str
    schema_: int = Field(alias="schema")
    command: str
    status: Literal["ok", "failed", "error"]
    exit_code: int
    data: dict[str, Any] | None
    errors: list[ErrorEntry]


Result = Annotated[CallToolResult, Envelope]


def answer(command: str, body: Callable[[], tools.Answer]) -> CallToolResult:
    """The tool's envelope as `structuredContent` and as JSON text; a failure is a tool error with kind and hint."""
    try:
        data, code = body()
        document = envelope(command, exit_code=code, data=data)
    except LoopctlError as err:
        document = envelope(command, exit_code=2, errors=[error_entry(err)])
    except Exception as err:  # a bug: one line for the agent, never a traceback
        from loopctl.phases.base import internal_error

        info = internal_error(err)
        document = envelope(command, exit_code=1, errors=[info.model_dump()])
    text = json.dumps(document, ensure_ascii=False, sort_keys=True)
    if len(text) > RESULT_BUDGET:  # a bug in the paging: said as such, never a result too big for the agent
        message = f"the {command} result came to {len(text)} bytes, over the {RESULT_BUDGET}-byte bound"
        document = envelope(
            command, exit_code=1, errors=[{"kind": ErrorKind.INTERNAL_ERROR, "message": message, "hint": ""}]
        )
        text = json.dumps(document, ensure_ascii=False, sort_keys=True)
    failed = bool(document["errors"])
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=document, is_error=failed)


def _tool(server: MCPServer[Any], annotations: ToolAnnotations) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a tool with its docstring as one paragraph: clients show the description as it comes."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        description = " ".join((function.__doc__ or "").split())
        server.add_tool(function, description=description, annotations=annotations)
        return function

    return register


def build_server(config_path: Path) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(
        "loopctl",
        version=__version__,
        instructions="Deploy-and-verify loop: call iterate after a change, then result, evidence and diff.",
    )
    runner = Runner()
    _register_loop(server, config_path, runner)
    _register_reads(server, config_path)
    _register_resources(server, config_path)
    return server


def _register_loop(server: MCPServer[Any], config_path: Path, runner: Runner) -> None:
    @_tool(server, WRITES)
    async def iterate(
        ctx: Context, skip: str = "", reason: str = "", wait_s: float = 40.0, services: list[str] | None = None
    ) -> Result:
        """Build, push, deploy, probe and record one iteration in the background. Returns its number at once, or its
        result when it ends within wait_s seconds; progress notifications name each phase. While one runs, a second
        call returns the running one's number. skip: phases to skip, comma-separated (build,push,deploy,probe,
        suites); reason: why this iteration (shown in status); services: with a config of several services, only
        these and what they depend on."""
        run, _ = runner.start(config_path, skip=skip, reason=reason, services=tuple(services or ()))
        await _follow(run, ctx, wait_s, until_end=True)
        return answer("iterate", lambda: tools.finished(run, config_path) if run.done else tools.running(run))

    @_tool(server, READ_ONLY)
    async def status(ctx: Context, number: int | None = None, wait_s: float = 40.0) -> Result:
        """Long-poll the running iteration: returns when a phase ends, it finishes, or after wait_s seconds, with
        the phases' states and the current phase's last log lines; a finished iteration returns its result."""
        run = runner.running(number)
        if run is not None:
            await _follow(run, ctx, wait_s, until_end=False)
            return answer("status", lambda: tools.finished(run, config_path) if run.done else tools.running(run))
        latest = runner.current
        if latest is not None and latest.error is not None and number in (None, latest.number):
            return answer("status", lambda: tools.finished(latest, config_path))
        return answer("status", lambda: _finished_result(config_path, number))

    @_tool(server, READ_ONLY)
    def probe(check: str, url: str | None = None) -> Result:
        """Run one configured check now against the running service (the latest deployment's URL, or url)."""
        return answer("probe", lambda: tools.probe(config_path, check, url))


def _register_reads(server: MCPServer[Any], config_path: Path) -> None:
    @_tool(server, READ_ONLY)
    def result(
        number: int | None = None, detail: Literal["summary", "checks"] = "summary", cursor: str | None = None
    ) -> Result:
        """An iteration's verdict: status, exit code, blocking outcome BEFORE -> AFTER, per check the category,
        close code, depth, events reached, the server's exception with its repo file:line and the hint, the
        deployment (digest, revision or container, URL) and the report's summary. detail=summary lists the
        failing checks; checks lists all of them with their events. Default: the latest iteration."""
        return answer("result", lambda: tools.result(config_path, number, detail=detail, cursor=cursor))

    @_tool(server, READ_ONLY)
    def evidence(number: int, check: str, max_lines: Annotated[int, Field(ge=0, le=200)] = 40) -> Result:
        """A check's server log lines from its iteration (redacted, bounded), the exception, and its stack frames
        as {file, line, function} with repo paths."""
        return answer("evidence", lambda: tools.evidence(config_path, number, check, max_lines))

    @_tool(server, READ_ONLY)
    def diff(a: str = "previous", b: str = "latest", cursor: str | None = None) -> Result:
        """What changed between two iterations (numbers, `latest`, and `previous` for the one b was compared with):
        per check fixed, regressed, progress or no_change, the error before and after, the files and commits
        changed, and whether the digest and revision changed."""
        return answer("diff", lambda: tools.diff(config_path, a, b, cursor))

    @_tool(server, READ_ONLY)
    def history(last: Annotated[int, Field(ge=1, le=1000)] = 10, cursor: str | None = None) -> Result:
        """One row per past iteration, oldest first: number, date, commit, status, blocking outcome, P1 pass rate."""
        return answer("history", lambda: tools.history(config_path, last, cursor))

    @_tool(server, READ_ONLY)
    def classify(code: int, reason: str = "") -> Result:
        """What a WebSocket close code (1000-4999) or an HTTP status (100-599) means: category, depth, what next."""
        return answer("classify", lambda: tools.classify(code, reason))


def _register_resources(server: MCPServer[Any], config_path: Path) -> None:
    @server.resource("loopctl://iterations/{n}/report.md", mime_type="text/markdown")
    def report_md(n: str) -> str:
        """An iteration's markdown report (n: a number or `latest`)."""
        _, store = tools.project(config_path)
        return tools.report_text(store, tools.load(store, n))

    @server.resource("loopctl://iterations/{n}/record.json", mime_type="application/json")
    def record_json(n: str) -> str:
        """An iteration's record (n: a number or `latest`)."""
        _, store = tools.project(config_path)
        return json.dumps(tools.load(store, n).to_json_dict(), ensure_ascii=False, sort_keys=True)

    @server.resource("loopctl://iterations/{n}/junit.xml", mime_type="application/xml")
    def junit(n: str) -> str:
        """An iteration's checks and suites as JUnit XML (n: a number or `latest`)."""
        from loopctl.reports.junit import junit_xml

        _, store = tools.project(config_path)
        return junit_xml(tools.load(store, n))


async def _follow(run: Run, ctx: Context, wait_s: float, *, until_end: bool) -> None:
    """Wait for the run (to its end, or until a phase ends), reporting each phase event as progress."""
    began = time.monotonic()
    deadline, last_resort = began + min(max(wait_s, 0.0), MAX_WAIT_S), began + MAX_WAIT_S
    seen, ended = run.events, _ended(run)
    # Past `wait_s` only until the iteration has its number (its lock taken): the answer always names it.
    while not run.done and time.monotonic() < (deadline if run.number is not None else last_resort):
        await anyio.to_thread.run_sync(run.wait, seen, 0.25)
        if run.events > seen:
            seen = run.events
            state = run.state()
            phases = ", ".join(f"{phase['name']} {phase['status']}" for phase in state["phases"])
            await ctx.report_progress(seen, None, f"iteration {state['number']}: {phases}")
        if not until_end and _ended(run) > ended:
            return


def _ended(run: Run) -> int:
    return sum(phase["status"] != "running" for phase in run.state()["phases"])


def _finished_result(config_path: Path, number: int | None) -> tools.Answer:
    data, code = tools.result(config_path, number)
    return {"state": {"number": data["number"], "running": False}, "result": data}, code


def serve(config_path: Path) -> None:
    build_server(config_path.resolve()).run()
