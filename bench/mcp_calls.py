"""An agent's read of the latest result: one `result` call on a running `loopctl mcp` against shelling out to
`loopctl report --format json`, over 200 records, interleaved calls; plus the server's start (initialize + list)."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import anyio
from timing import LOOPCTL, REPO, checked, figure, median, ms, require_venv, say, verdict

sys.path.insert(0, str(REPO))  # tests.support.records: the records the tests render

from mcp import Client, StdioServerParameters

from loopctl.records.store import Store
from tests.support.records import closed, http_check, make_record

RECORDS = 200
CALLS = 30
GOAL_FACTOR = 0.25  # a tool call costs at most a quarter of a `loopctl report --format json` process


def seed(folder: Path) -> Path:
    """RECORDS failing iterations (a 1011 after one event), each with its report, and a config naming them."""
    store = Store(folder / "iterations")
    for number in range(1, RECORDS + 1):
        checks = [http_check(), closed(1011, "Internal error", ["agent_started"])]
        store.save(make_record(number, "no_change", checks=checks), f"# iteration {number}\n\n## Summary\n\nx\n")
    config = folder / "config.yaml"
    config.write_text("project: bench\n")
    return config


async def tool_calls(config: Path) -> tuple[float, list[float]]:
    """Seconds to start the server and list its tools; then seconds per `result` call."""
    params = StdioServerParameters(command=str(LOOPCTL), args=["mcp", "-c", str(config)], cwd=str(config.parent))
    began = time.perf_counter()
    times: list[float] = []
    async with Client(params) as client:
        await client.list_tools()
        started = time.perf_counter() - began
        for _ in range(CALLS):
            call = time.perf_counter()
            result = await client.call_tool("result", {})
            times.append(time.perf_counter() - call)
            assert not result.is_error, result
    return started, times


def main() -> None:
    require_venv()
    folder = Path(tempfile.mkdtemp(prefix="loopctl-bench-mcp-"))
    try:
        config = seed(folder)
        say(f"{RECORDS} records in {folder}; {CALLS} calls each way")
        started, calls = anyio.run(tool_calls, config)
        shelled = [checked([LOOPCTL, "report", "--format", "json", "-c", config], cwd=folder)[0] for _ in range(CALLS)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    per_call, per_process = median(calls), median(shelled)
    say(f"server start (spawn, initialize, tools/list): {ms(started)}")
    say(f"result tool call: median {ms(per_call)}; loopctl report --format json: median {ms(per_process)}")
    met = per_call <= GOAL_FACTOR * per_process
    figure(f"mcp result call {ms(per_call)} vs report --format json {ms(per_process)} (goal ≤ 25%): {verdict(met)}")


if __name__ == "__main__":
    main()
