"""`loopctl mcp` as an agent meets it: a subprocess over stdio, driven by the MCP SDK's own client.

The docker target end to end: the sample service built, pushed to a throwaway registry, run on the engine; its
1011 explained by its own TypeError, read back through `result`, `evidence`, `diff` and a resource.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from tests.integration.agent_service import EVENTS
from tests.reliability.conftest import remove_images_of
from tests.support.realparts import BASE_IMAGE, docker_client, start_registry

REPO = Path(__file__).resolve().parents[2]
SECRET = f"mcp-test-jwt-{uuid.uuid4().hex}"

CONFIG = """\
project: mcp-test
iterations_dir: iterations
build: {{context: service, image: {registry}/agent-service, args: {{BASE_IMAGE: {base}}}}}
push: {{auth: none}}
deploy:
  target: docker
  docker: {{name: {name}, port: 8080, env: {{JWT_SECRET: {{env: DEMO_JWT_SECRET}}{fault}}}}}
probe:
  checks:
    - name: chat-events
      websocket:
        path: /ws
        auth: {{type: bearer, token: {{jwt: {{secret: {{env: DEMO_JWT_SECRET}}, claims: {{sub: probe}}}}}}}}
        send: {{type: user_message, payload: {{content: hello}}}}
        expect_events: {events}
        timeout: 10
"""


def server(folder: Path, config: str = "config.yaml", *, python: list[str] | None = None) -> StdioServerParameters:
    env = {"DEMO_JWT_SECRET": SECRET, "PYTHONPATH": str(REPO), "DOCKER_HOST": os.environ.get("DOCKER_HOST", "")}
    return StdioServerParameters(
        command=sys.executable,
        args=[*(python or ["-m", "loopctl"]), "mcp", "-c", str(folder / config)],
        env={key: value for key, value in env.items() if value},
        cwd=str(folder),
    )


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def write_config(folder: Path, registry: str, name: str, *, fault: str | None) -> None:
    extra = f", FAULT: {fault}" if fault else ""
    events = json.dumps(list(EVENTS))
    text = CONFIG.format(registry=registry, base=BASE_IMAGE, name=name, fault=extra, events=events)
    (folder / "config.yaml").write_text(text)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A git repo holding the sample service and a config for the docker target; cleaned off the engine after."""
    folder = tmp_path / "repo"
    shutil.copytree(REPO / "examples" / "agent-service", folder / "service")
    name = f"loopctl-mcp-{uuid.uuid4().hex[:8]}"
    with start_registry(tmp_path / "registry") as registry:
        write_config(folder, registry.address, name, fault="internal")
        git(folder, "init", "-q", "-b", "main")
        git(folder, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
        git(folder, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "The sample service")
        yield folder, registry.address, name
        remove_images_of(registry.address)
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        docker_client().containers.get(name).remove(force=True)


def envelope(result: CallToolResult) -> dict[str, Any]:
    """The structured result, checked against its own text: a client forwarding either sees the same."""
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


def test_an_agent_iterates_on_the_docker_target_and_reads_why_it_failed(workspace: tuple[Path, str, str]) -> None:
    folder, registry, name = workspace
    progress: list[str] = []

    async def record_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async def session() -> dict[str, Any]:
        found: dict[str, Any] = {}
        async with Client(server(folder)) as client:
            listed = await client.list_tools()
            found["tools"] = {tool.name: tool for tool in listed.tools}
            arguments = {"wait_s": 1, "reason": "first look"}
            started = envelope(await client.call_tool("iterate", arguments, progress_callback=record_progress))
            found["started"] = started
            again = envelope(await client.call_tool("iterate", {"wait_s": 0}))
            found["again"] = again
            state = started
            for _ in range(20):  # each status call long-polls up to 40 s; a build and deploy takes well under that
                state = envelope(await client.call_tool("status", {"number": started["data"]["state"]["number"]}))
                if not state["data"]["state"]["running"]:
                    break
            found["status"] = state
            found["result"] = envelope(await client.call_tool("result", {"detail": "checks"}))
            found["evidence"] = envelope(await client.call_tool("evidence", {"number": 1, "check": "chat-events"}))
            report = await client.read_resource("loopctl://iterations/latest/report.md")
            found["report"] = report.contents[0].text  # type: ignore[union-attr]
            write_config(folder, registry, name, fault=None)
            git(folder, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "Fix the fault")
            found["second"] = envelope(await client.call_tool("iterate", {"wait_s": 55}))
            found["diff"] = envelope(await client.call_tool("diff", {}))
            found["probe"] = envelope(await client.call_tool("probe", {"check": "chat-events"}))
            record = await client.read_resource("loopctl://iterations/1/record.json")
            found["record"] = json.loads(record.contents[0].text)  # type: ignore[union-attr]
        return found

    found = anyio.run(session)

    tools = found["tools"]
    assert {"iterate", "status", "result", "evidence", "diff", "history", "probe", "classify"} <= set(tools)
    assert tools["result"].annotations.read_only_hint is True
    assert (
        tools["iterate"].annotations.idempotent_hint is False and tools["iterate"].annotations.read_only_hint is False
    )
    started = found["started"]
    assert started["status"] == "ok" and started["data"]["state"]["running"] is True
    assert started["data"]["state"]["number"] == 1 and started["data"]["result"] is None
    assert started["data"]["state"]["reason"] == "first look"
    assert found["again"]["data"]["state"]["number"] == 1  # the running one, not a second iteration
    assert any("build" in message for message in progress), progress

    status = found["status"]
    assert status["data"]["state"]["running"] is False and status["exit_code"] == 1
    assert status["data"]["result"]["status"] == "failed"

    result = found["result"]["data"]
    assert (result["number"], result["status"], result["exit_code"]) == (1, "failed", 1)
    check = result["checks"][0]
    assert (check["name"], check["category"], check["close_code"], check["depth"]) == (
        "chat-events",
        "internal_error",
        1011,
        3,
    )
    assert check["server_error"]["type"] == "TypeError"
    assert check["server_error"]["location"].startswith("service/agent_service/conversation.py:")
    assert result["deployment"]["target"] == "docker" and result["deployment"]["digest"].startswith("sha256:")
    assert result["summary_markdown"].startswith("# mcp-test — iteration 1: failed")

    evidence = found["evidence"]["data"]
    assert evidence["exception"]["type"] == "TypeError"
    assert evidence["lines"][-1] == "TypeError: user_context must be a UserExecutionContext instance"
    assert {"file": evidence["exception"]["location"].rsplit(":", 1)[0]} in [
        {"file": frame["file"]} for frame in evidence["frames"]
    ]
    assert "TypeError" in found["report"]

    second = found["second"]
    assert second["data"]["state"]["running"] is False and second["data"]["result"]["status"] == "success"
    diff = found["diff"]["data"]
    assert (diff["a"], diff["b"]) == (1, 2)
    assert [(row["check"], row["transition"]) for row in diff["checks"]] == [("chat-events", "fixed")]
    assert diff["checks"][0]["error_before"].startswith("TypeError: ")
    assert diff["changes"]["commits"] == ["Fix the fault"]
    assert diff["revision_changed"] or diff["deployment"]["b"]["container"] != diff["deployment"]["a"]["container"]
    probed = found["probe"]
    assert (probed["status"], probed["data"]["name"], probed["data"]["passed"]) == ("ok", "chat-events", True)
    assert probed["data"]["events_reached"] == f"{len(EVENTS)}/{len(EVENTS)}"
    assert (found["record"]["number"], found["record"]["status"]) == (1, "failed")


def test_a_bad_config_is_a_tool_error_with_kind_and_hint(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("project: x\nprobe: {checks: [{name: a, bogus: 1}]}\n")

    async def session() -> tuple[CallToolResult, CallToolResult]:
        async with Client(server(tmp_path)) as client:
            return await client.call_tool("result", {}), await client.call_tool("iterate", {"wait_s": 5})

    for result in anyio.run(session):
        assert result.is_error is True
        document = envelope(result)
        assert document["status"] == "error" and document["exit_code"] == 2
        (error,) = document["errors"]
        assert error["kind"] == "usage" and "config.yaml" in error["message"] and "Traceback" not in error["message"]


def test_without_the_extra_loopctl_mcp_says_how_to_install_it(tmp_path: Path) -> None:
    # None in sys.modules makes `import mcp` raise ImportError, as on an install without the extra.
    blocked = "import sys; sys.modules['mcp'] = None; from loopctl.cli import main; sys.argv[0] = 'loopctl'; main()"
    done = subprocess.run(
        [sys.executable, "-c", blocked, "mcp", "-c", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "loopctl mcp needs the MCP SDK" in done.stderr and "pip install 'loopctl[mcp]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_iteration_running_elsewhere_is_a_tool_error_and_the_server_keeps_serving(tmp_path: Path) -> None:
    from loopctl.records.store import Store

    (tmp_path / "config.yaml").write_text(
        "project: locked\ndeploy: {target: url, url: 'http://127.0.0.1:9'}\n"
        "probe: {checks: [{name: health, http: {path: /health}}]}\n"
    )

    async def session() -> tuple[CallToolResult, CallToolResult]:
        async with Client(server(tmp_path)) as client:
            return await client.call_tool("iterate", {"wait_s": 20}), await client.call_tool("classify", {"code": 1011})

    with Store(tmp_path / "iterations").lock():  # as a `loopctl iterate` in another terminal holds it
        refused, served = anyio.run(session)

    assert refused.is_error is True
    (error,) = envelope(refused)["errors"]
    assert error["kind"] == "usage" and "another loopctl iteration is running" in error["message"] and error["hint"]
    assert served.is_error is False and envelope(served)["data"]["category"] == "internal_error"


def test_iterate_with_no_wait_still_names_its_iteration(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "project: quick\ndeploy: {target: url, url: 'http://127.0.0.1:9'}\n"
        "probe: {checks: [{name: health, http: {path: /health, timeout: 2}}]}\n"
    )

    async def session() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Client(server(tmp_path)) as client:
            started = envelope(await client.call_tool("iterate", {"wait_s": 0}))
            ended = envelope(await client.call_tool("status", {"number": 1, "wait_s": 30}))
            while ended["data"]["state"]["running"]:
                ended = envelope(await client.call_tool("status", {"number": 1, "wait_s": 30}))
            return started, ended

    started, ended = anyio.run(session)

    assert started["data"]["state"]["number"] == 1
    result = ended["data"]["result"]
    assert (result["number"], result["status"], ended["exit_code"]) == (1, "failed", 1)
    assert result["checks"][0]["category"] == "connection_refused"


def test_the_config_can_come_from_loopctl_config(tmp_path: Path) -> None:
    from loopctl.records.store import Store
    from tests.support.records import story

    project = tmp_path / "project"
    project.mkdir()
    (project / "config.yaml").write_text("project: elsewhere\niterations_dir: runs\n")
    for record in story():
        Store(project / "runs").save(record, f"# iteration {record.number}\n\n## Summary\n\nall green\n")
    params = server(tmp_path)
    params.args = ["-m", "loopctl", "mcp"]
    params.env = {**(params.env or {}), "LOOPCTL_CONFIG": str(project / "config.yaml")}

    async def session() -> dict[str, Any]:
        async with Client(params) as client:
            return envelope(await client.call_tool("result", {}))

    result = anyio.run(session)["data"]
    assert (result["number"], result["status"], result["checks"]) == (3, "success", [])
    assert result["summary_markdown"] == "# iteration 3\n\n## Summary\n\nall green\n"


def test_a_token_the_server_echoes_never_reaches_a_tool_result(tmp_path: Path) -> None:
    from tests.reliability.harness import fragments
    from tests.reliability.hostile import hostile_server

    token = f"Zq7{uuid.uuid4().hex}Kp9"
    with hostile_server() as address:
        (tmp_path / "config.yaml").write_text(
            f"project: echo\ndeploy: {{target: url, url: 'http://{address}'}}\n"
            "probe: {checks: [{name: echo, http: {path: /echo-token, auth: {token: {env: ECHOED}}}}]}\n"
        )
        params = server(tmp_path)
        params.env = {**(params.env or {}), "ECHOED": token}

        async def session() -> list[CallToolResult]:
            async with Client(params) as client:
                probed = await client.call_tool("probe", {"check": "echo"})
                iterated = await client.call_tool("iterate", {"wait_s": 30})
                evidence = await client.call_tool("evidence", {"number": 1, "check": "echo"})
                return [probed, iterated, evidence]

        results = anyio.run(session)

    said = "\n".join(result.content[0].text for result in results)  # type: ignore[union-attr]
    assert envelope(results[0])["data"]["close_code"] == 401 and "***" in said
    assert envelope(results[1])["data"]["result"]["checks"][0]["reason"].count("***") >= 1
    for fragment in fragments(token, window=12):
        assert fragment not in said
