"""Records as the MCP tools show them: transitions, repo paths, frames, and results kept under the size bound."""

from __future__ import annotations

import json
from pathlib import Path

from loopctl.mcp.views import RESULT_BUDGET, check_view, diff_view, evidence_view, frames, repo_location, result_view
from loopctl.records.record import CheckRecord, OutcomeRecord, ServerError, StepsRecord
from tests.support.records import closed, digest, make_record, story
from tests.support.service_records import API_URL, STORE_CONTAINER
from tests.support.service_records import story as service_story

TRACEBACK = [
    "ERROR:agent_service:handler failed",
    "Traceback (most recent call last):",
    '  File "/usr/lib/python3/dist-packages/websockets/legacy/server.py", line 236, in handler',
    "    await self.ws_handler(self)",
    '  File "/app/agent_service/conversation.py", line 104, in converse',
    "    raise TypeError('user_context must be a UserExecutionContext instance')",
    "TypeError: user_context must be a UserExecutionContext instance",
]


def test_diff_names_each_checks_transition() -> None:
    first, second, third = story()

    moved = diff_view(first, second)
    fixed = diff_view(second, third)
    fell = diff_view(third, first)

    assert [(row["check"], row["transition"]) for row in moved["checks"]] == [
        ("health", "no_change"),
        ("chat-events", "progress"),
    ]
    assert [row["transition"] for row in fixed["checks"]] == ["no_change", "fixed"]
    assert [row["transition"] for row in fell["checks"]] == ["no_change", "regressed"]
    assert moved["digest_changed"] and moved["revision_changed"]


def test_a_container_path_becomes_the_repo_file_it_came_from(tmp_path: Path) -> None:
    source = tmp_path / "service" / "agent_service" / "conversation.py"
    source.parent.mkdir(parents=True)
    source.write_text("")

    (tmp_path / "service" / "other.py").write_text("")

    found = repo_location("app/agent_service/conversation.py:104", tmp_path)
    assert found == "service/agent_service/conversation.py:104"
    assert repo_location("lib/elsewhere/other.py:3", tmp_path) == "lib/elsewhere/other.py:3"  # not this repo's
    library = "/usr/lib/python3/dist-packages/websockets/legacy/server.py"
    assert frames(TRACEBACK, tmp_path) == [
        {"file": library, "line": 236, "function": "handler", "in_repo": False},
        {"file": "service/agent_service/conversation.py", "line": 104, "function": "converse", "in_repo": True},
    ]


def test_evidence_keeps_the_end_of_the_excerpt(tmp_path: Path) -> None:
    error = ServerError(type="TypeError", message="m", location="app/x.py:1", lines=TRACEBACK)
    check = closed(1011, "Internal error", ["agent_started"], name="chat-events")
    record = make_record(1, "failed", checks=[{**check, "server_error": error.model_dump()}])

    shown = evidence_view(record, record.checks[0], max_lines=2, base=tmp_path)

    assert shown["lines"] == TRACEBACK[-2:] and shown["lines_total"] == len(TRACEBACK)
    assert shown["exception"]["type"] == "TypeError"


def test_a_result_with_hundreds_of_large_checks_stays_under_the_bound_and_pages_through_all(tmp_path: Path) -> None:
    reason = "x" * 190
    checks = [closed(1011, reason, ["agent_started"] * 40, name=f"check-{index:03d}") for index in range(300)]
    record = make_record(1, "failed", checks=checks)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        shown = result_view(record, None, detail="checks", report="# r\n", base=tmp_path, cursor=cursor)
        assert len(json.dumps(shown, ensure_ascii=False)) < RESULT_BUDGET
        seen += [check["name"] for check in shown["checks"]]
        pages += 1
        cursor = shown["next_cursor"]
        if cursor is None:
            break

    assert seen == [f"check-{index:03d}" for index in range(300)]
    assert pages > 1


def test_a_conversation_check_says_the_step_it_reached_not_an_event_count() -> None:
    steps = StepsRecord(total=7, done=4, reached=5, at="expect agent_completed", mismatch='result.answer: "5"')
    check = CheckRecord(
        name="chat",
        kind="websocket",
        passed=False,
        outcome=OutcomeRecord(category="payload_mismatch", depth=4),
        steps=steps,
    )
    view = check_view(check, full=True)
    assert (view["step_reached"], view["events_reached"]) == ("step 5/7: expect agent_completed", None)
    assert view["steps"]["mismatch"] == 'result.answer: "5"'


def test_several_services_each_show_their_deployment_in_deploy_order() -> None:
    before, after = service_story()
    assert after.services is not None
    from_disk = after.model_copy(update={"services": dict(sorted(after.services.items()))})
    shown = result_view(from_disk, before)
    store, api = shown["deployment"]["services"]
    assert (store["name"], store["container"], store["digest"]) == ("store", STORE_CONTAINER, digest(0xC0))
    assert (api["name"], api["revision"], api["url"], api["digest"]) == ("api", "a90000000002", API_URL, digest(0xB2))
    assert {(phase["service"], phase["name"]) for phase in shown["phases"]} >= {("api", "build"), ("store", "deploy")}
    assert shown["blocking"]["check"] == "chat" and shown["blocking"]["service"] == "api"


def test_a_diff_of_several_services_says_whose_deployment_moved() -> None:
    before, after = service_story()
    moved = diff_view(before, after)
    assert moved["digest_changed"] and moved["revision_changed"]
    assert [(row["service"], row["check"]) for row in moved["checks"]] == [
        ("store", "ping"),
        ("api", "health"),
        ("api", "chat"),
    ]
    same = diff_view(after, after.model_copy(update={"number": 3}))
    assert not same["digest_changed"] and not same["revision_changed"]
