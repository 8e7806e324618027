"""`loopctl mcp` checked by a client it was not written with: the MCP Inspector's CLI mode, from npm."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_mcp import server
from tests.support import npm
from tests.support.records import story

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inspector() -> Path:
    """The Inspector's CLI from its pinned lock file (installed by `make up`; here a no-op once there)."""
    return npm.node_modules(REPO / "tests" / "fixtures" / "mcp_inspector") / ".bin" / "mcp-inspector"


def inspect(inspector: Path, folder: Path, *method: str) -> dict[str, Any]:
    """One Inspector call to the server the SDK test starts; a tool result's text is checked against its data."""
    launched = server(folder)
    done = subprocess.run(
        [str(inspector), "--cli", launched.command, *launched.args, "--method", *method],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
        env={**os.environ, **(launched.env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    if "structuredContent" in found:
        assert json.loads(found["content"][0]["text"]) == found["structuredContent"]
    return found


def test_the_inspector_lists_the_tools_and_calls_history_and_classify(inspector: Path, tmp_path: Path) -> None:
    from loopctl.records.store import Store

    (tmp_path / "config.yaml").write_text("project: inspected\n")
    store = Store(tmp_path / "iterations")
    for record in story()[:3]:
        store.save(record, f"# iteration {record.number}\n")

    listed = inspect(inspector, tmp_path, "tools/list")
    tools = {tool["name"]: tool for tool in listed["tools"]}
    assert {"iterate", "status", "result", "evidence", "diff", "history", "probe", "classify"} <= set(tools)
    assert tools["history"]["annotations"]["readOnlyHint"] is True
    assert tools["iterate"]["annotations"]["idempotentHint"] is False
    assert tools["classify"]["outputSchema"]["properties"]["errors"]["type"] == "array"

    history = inspect(inspector, tmp_path, "tools/call", "--tool-name", "history", "--tool-arg", "last=2")
    assert history["isError"] is False
    rows = history["structuredContent"]["data"]["iterations"]
    assert [row["number"] for row in rows] == [2, 3]

    classified = inspect(inspector, tmp_path, "tools/call", "--tool-name", "classify", "--tool-arg", "code=1008")
    data = classified["structuredContent"]["data"]
    assert (data["code"], data["category"], data["depth"]) == (1008, "policy_violation", 2)

    refused = inspect(inspector, tmp_path, "tools/call", "--tool-name", "classify", "--tool-arg", "code=7")
    assert refused["isError"] is True
    (error,) = refused["structuredContent"]["errors"]
    assert error["kind"] == "usage" and "neither an HTTP status" in error["message"] and error["hint"]
