"""The report, JUnit and JSON of a project of several services: each service named where its part is shown."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from junitparser import Error, JUnitXml
from markdown_it import MarkdownIt

from loopctl.records.record import Changes
from loopctl.records.store import Store
from loopctl.reports.junit import junit_xml
from loopctl.reports.markdown import render_markdown
from tests.reliability.hostile import HOSTILE
from tests.support.records import closed, digest, http_check, make_record
from tests.support.service_records import API_URL, STORE_CONTAINER, service_phases, services, shop, story
from tests.support.services import SHOP


def section(report: str, title: str) -> str:
    """The text under `## title`, up to the next `## ` heading."""
    start = report.index(f"## {title}")
    end = report.find("\n## ", start + 1)
    return report[start : end if end != -1 else None]


def test_the_header_gives_each_service_its_deployment_and_digest() -> None:
    before, after = story()
    header = render_markdown(after, before).split("\n## ", 1)[0]
    store = f"  - **store**: `{STORE_CONTAINER[:12]}` at http://127.0.0.1:16379, image `{digest(0xC0)}`"
    store = f"- **Services**, in deploy order:\n{store}"
    api = f"\n  - **api**: `a90000000002` at {API_URL}, image `{digest(0xB2)}`"
    assert store in header
    assert api in header
    assert header.index(store) < header.index(api)  # deploy order
    assert "**Deployment**" not in header and "**Image digest**" not in header


def test_the_deployment_table_has_a_row_per_service_and_phase() -> None:
    before, after = story()
    table = section(render_markdown(after, before), "Deployment")
    assert "| Service | Phase | Result | Duration | Detail |" in table
    assert f"| store | deploy | ✅ ok | 1.5 s | `{STORE_CONTAINER[:12]}` at http://127.0.0.1:16379 |" in table
    assert f"| api | build | ✅ ok | 20.0 s | `{digest(0xA2)[:19]}`, not cached |" in table
    assert f"| api | deploy | ✅ ok | 2.5 s | `a90000000002` at {API_URL} |" in table
    assert "| store | probe | ✅ ok | 0.2 s | 1/1 checks passed |" in table
    assert "| api | probe | ✅ ok | 1.1 s | 1/2 checks passed |" in table


def test_one_service_keeps_its_table_without_a_service_column() -> None:
    report = render_markdown(make_record(1, "success", checks=[http_check()]), None)
    assert "| Phase | Result | Duration | Detail |" in report
    assert "| Service |" not in report


def test_results_name_each_check_s_service_grouped_in_deploy_order() -> None:
    before, after = story()
    results = section(render_markdown(after, before), "Results compared")
    assert "| Service | Measure | Iteration 1 | Iteration 2 |" in results
    assert "| — | Priority 1 | 2/3 (67%) | 2/3 (67%) |" in results
    store, health = "| store | ping | ✅ success | ✅ success |", "| api | health | ✅ success | ✅ success |"
    chat = "| api | chat | ❌ policy_violation | ❌ internal_error |"
    assert store in results and health in results and chat in results
    assert results.index(store) < results.index(health) < results.index(chat)
    assert "| Service | Event | Iteration 1 | Iteration 2 |" in results
    assert "| api | agent_started | ❌ | ✅ |" in results


def test_a_dependency_s_checks_come_first_whatever_order_the_probe_listed_them() -> None:
    record = shop(1, "failed", closed(1011, "Internal error"))
    listed = record.model_copy(update={"checks": [*record.checks[1:], record.checks[0]]})
    results = section(render_markdown(listed, None), "Results compared")
    assert results.index("| store | ping |") < results.index("| api | health |")


def test_failures_and_priorities_name_the_service() -> None:
    before, after = story()
    report = render_markdown(after, before)
    assert "### api: chat (priority 1)\n\n- **Outcome**: `internal_error`" in section(report, "Failures")
    priorities = section(report, "Next iteration priorities")
    assert priorities.startswith("## Next iteration priorities\n\n### api\n\n1. **chat** (priority 1) stops at")


def test_priorities_are_grouped_by_service_with_one_numbering() -> None:
    failed = {"status": "failed", "error": {"kind": "deploy", "message": "port taken", "hint": "free port 16379"}}
    rows = service_phases(**{"store.probe": {"status": "ok"}})
    rows = [{**row, **failed} if (row["service"], row["name"]) == ("store", "deploy") else row for row in rows]
    suites = [{"name": "e2e", "failed": 1, "failures": [{"test": "test_order", "message": "boom"}]}]
    record = shop(2, "failed", closed(1011, "Internal error"), phase_rows=rows, suites=suites)
    priorities = section(render_markdown(record, None), "Next iteration priorities")
    store, api, project = (priorities.index(f"### {name}\n") for name in ("store", "api", "Project (suites)"))
    assert store < api < project
    assert "### store\n\n1. **deploy** failed: free port 16379\n" in priorities
    assert "### api\n\n2. **chat** (priority 1) stops at message processing" in priorities
    assert "### Project (suites)\n\n3. **e2e** suite (priority 1): 1 failed" in priorities
    failures = section(render_markdown(record, None), "Failures")
    assert "### store: deploy (phase)\n\n- **Error**: deploy: port taken" in failures


def test_the_summary_names_the_service_where_it_blocks() -> None:
    before, after = story()
    first = section(render_markdown(before, None), "Summary")
    assert "**Blocking outcome**: `received 1008 (policy violation) Authentication failed` in **api: chat**" in first
    summary = section(render_markdown(after, before), "Summary")
    assert "**Blocking outcome** in **api: chat**: 1008 → 1011: moved from authentication" in summary
    assert "**api: chat**\n\n- **BEFORE**:" in summary
    assert "- Not working yet: Users can chat and see the agent work (api: chat)" in first


def test_a_failed_phase_in_the_summary_names_its_service() -> None:
    failed = {"status": "failed", "error": {"kind": "build", "message": "RUN pip failed"}}
    rows = service_phases(**{"api.build": failed})
    record = shop(2, "failed", closed(1011, "x"), phase_rows=rows)
    assert "**api: build** failed: RUN pip failed" in section(render_markdown(record, None), "Summary")


def test_changed_files_name_the_service_whose_context_holds_them() -> None:
    files = [
        {"path": "api/app.py", "service": "api", "added": 3, "removed": 1},
        {"path": "config.yaml", "added": 1, "removed": 0},
    ]
    changes = {"since": 1, "from_commit": "1" * 40, "files": files, "config_changed": ["services.api"]}
    before, after = story()
    changed = section(
        render_markdown(after.model_copy(update={"changes": Changes.model_validate(changes)}), before), "Changes"
    )
    assert "| File | Service | Added | Removed |" in changed
    assert "| `api/app.py` | api | +3 | −1 |" in changed
    assert "| `config.yaml` | — | +1 | −0 |" in changed


def test_junit_gives_each_service_a_testsuite_of_its_checks() -> None:
    suites = [{"name": "e2e", "passed": 4}]
    record = shop(2, "failed", closed(1011, "Internal error", ["agent_started"]), suites=suites)
    root = ET.fromstring(junit_xml(record).encode())
    names = [suite.attrib["name"] for suite in root]
    assert names == ["loopctl.phases", "loopctl.checks.store", "loopctl.checks.api", "e2e"]
    store, api = root[1], root[2]
    assert [case.attrib["name"] for case in store.iter("testcase")] == ["ping"]
    assert [case.attrib["name"] for case in api.iter("testcase")] == ["health", "chat"]
    assert (api.attrib["tests"], api.attrib["failures"], store.attrib["failures"]) == ("2", "1", "0")
    assert {case.attrib["classname"] for case in api.iter("testcase")} == {"loopctl.probe.api.p1"}
    properties = {item.attrib["name"]: item.attrib["value"] for item in api.iter("property")}
    assert properties["loopctl.service"] == "api"
    assert (properties["loopctl.revision"], properties["loopctl.url"]) == ("a90000000002", API_URL)


def test_junitparser_reads_each_service_s_testsuite_as_ci_does() -> None:
    crashed = {**closed(1011, "Internal error"), "error": {"kind": "token", "message": "no token"}}
    record = shop(2, "failed", crashed, suites=[{"name": "e2e", "passed": 4, "failed": 1}])
    xml = JUnitXml.fromstring(junit_xml(record))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["loopctl.phases", "loopctl.checks.store", "loopctl.checks.api", "e2e"]
    for suite in xml:
        declared = (suite.tests, suite.failures, suite.errors, suite.skipped, suite.time)
        suite.update_statistics()  # type: ignore[no-untyped-call]
        assert (suite.tests, suite.failures, suite.errors, suite.skipped, suite.time) == declared, suite.name
    assert (xml.tests, xml.failures, xml.errors) == (9, 1, 1)  # 4 phases, 3 checks, e2e as `4 passed`, `1 more failed`
    (chat,) = [case for case in suites["loopctl.checks.api"] if case.name == "chat"]
    assert chat.classname == "loopctl.probe.api.p1"
    assert [type(result) for result in chat.result] == [Error]  # it could not run: an error, not a failure
    properties = {item.name: item.value for item in suites["loopctl.checks.store"].properties()}
    assert properties["loopctl.service"] == "store"


def test_junit_phases_name_their_service() -> None:
    root = ET.fromstring(junit_xml(story()[1]).encode())
    phases = root[0]
    cases = [(case.attrib["classname"], case.attrib["name"]) for case in phases.iter("testcase")]
    assert cases == [
        ("loopctl.phases.store", "deploy"),
        ("loopctl.phases.api", "build"),
        ("loopctl.phases.api", "push"),
        ("loopctl.phases.api", "deploy"),
    ]
    properties = {item.attrib["name"]: item.attrib["value"] for item in phases.iter("property")}
    assert properties["loopctl.store.revision"] == STORE_CONTAINER[:12]
    assert properties["loopctl.api.url"] == API_URL


def loopctl(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "loopctl", *args, "-c", str(folder / "config.yaml")]
    return subprocess.run(command, capture_output=True, text=True, cwd=folder, check=False, timeout=60)


def test_the_json_record_carries_each_service(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(SHOP)
    before, after = story()
    store = Store(tmp_path / "iterations")
    for record in (before, after):
        store.save(record, None)
    done = loopctl(tmp_path, "report", "2", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert set(data["services"]) == {"store", "api"}
    assert data["services"]["api"]["depends_on"] == ["store"]
    assert data["services"]["api"]["push"]["digest"] == digest(0xB2)
    assert data["services"]["store"]["deploy"]["container_id"] == STORE_CONTAINER
    assert [check["service"] for check in data["checks"]] == ["store", "api", "api"]
    assert {phase["service"] for phase in data["phases"]} == {"store", "api"}
    markdown = loopctl(tmp_path, "report", "2")
    assert markdown.returncode == 0, markdown.stderr
    assert f"  - **api**: `a90000000002` at {API_URL}" in markdown.stdout
    # The file keeps its keys sorted (api before store): the report still lists the dependency first.
    assert markdown.stdout.index("  - **store**") < markdown.stdout.index("  - **api**")


def test_deploy_order_comes_from_the_record_not_the_order_of_its_keys() -> None:
    before, after = story()
    assert after.services is not None
    sorted_keys = after.model_copy(update={"services": dict(sorted(after.services.items()))})  # as read from disk
    report = render_markdown(sorted_keys, before)
    assert report.index("  - **store**") < report.index("  - **api**")
    results = section(report, "Results compared")
    assert results.index("| store | ping |") < results.index("| api | health |")
    names = [suite.attrib["name"] for suite in ET.fromstring(junit_xml(sorted_keys).encode())]
    assert names == ["loopctl.phases", "loopctl.checks.store", "loopctl.checks.api"]


def test_a_failed_build_says_what_serves_per_service() -> None:
    failed = {"status": "failed", "error": {"kind": "build", "message": "RUN pip failed"}}
    skipped = {"status": "skipped", "duration_s": 0.0}
    rows = service_phases(
        **{
            "api.build": failed,
            "api.push": skipped,
            "api.deploy": skipped,
            "store.probe": skipped,
            "api.probe": skipped,
        }
    )
    before, _ = story()
    now = services(2)
    now["api"] = {"depends_on": ["store"]}
    record = make_record(2, "failed", phase_rows=rows, project="shop", build=None, push=None, deploy=None, services=now)
    summary = section(render_markdown(record, before), "Summary")
    assert "**api: build** failed: RUN pip failed" in summary
    assert f"- **store**: this iteration's deployment `{STORE_CONTAINER[:12]}` at http://127.0.0.1:16379" in summary
    assert f"- **api**: not deployed, so iteration 1's deployment `a90000000001` at {API_URL}" in summary
    assert summary.index("- **store**") < summary.index("- **api**")


def test_each_check_s_evidence_comes_from_its_own_service_s_probe() -> None:
    store_logs = {"read": True, "source": "container shop-store", "lines": 3}
    ended = {"status": "exited", "exit_code": 3, "oom_killed": False, "restarts": 0, "finished_at": None, "lines": []}
    api_logs = {"read": True, "source": "container shop-api", "lines": 9, "process": ended}
    rows = service_phases(
        **{"store.probe": {"detail": {"evidence": store_logs}}, "api.probe": {"detail": {"evidence": api_logs}}}
    )
    chat = {**closed(1006, ""), "server_error": {"type": "KeyError", "message": "'x'", "lines": ["boom"]}}
    record = shop(1, "failed", chat, phase_rows=rows)
    report = render_markdown(record, None)
    assert "**Process** of **api**: the process exited with code 3" in section(report, "Summary")
    failures = section(report, "Failures")
    assert "<summary>Server log from container shop-api (1 lines)</summary>" in failures
    assert "shop-store" not in failures


def test_a_tampered_service_name_stays_text_in_every_sink() -> None:
    before, after = story()
    assert after.services is not None
    evil = {
        HOSTILE: after.services["api"].model_copy(update={"depends_on": ["store"]}),
        "store": after.services["store"],
    }
    checks = [
        check.model_copy(update={"service": HOSTILE if check.service == "api" else "store"}) for check in after.checks
    ]
    phases = [
        phase.model_copy(update={"service": HOSTILE if phase.service == "api" else "store"}) for phase in after.phases
    ]
    files = Changes.model_validate({"since": 1, "files": [{"path": "api/app.py", "service": HOSTILE, "added": 1}]})
    record = after.model_copy(update={"services": evil, "checks": checks, "phases": phases, "changes": files})
    report = render_markdown(record, before)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\u202e]", report)
    tokens = MarkdownIt("commonmark").enable("table").parse(report)
    flat = [item for token in tokens for item in [token, *(token.children or [])]]
    assert not {token.type for token in flat} & {"html_block", "html_inline", "link_open", "image"}
    headings = [tokens[index + 1].content for index, token in enumerate(tokens) if token.type == "heading_open"]
    assert [heading for heading in headings if heading.startswith("Owned")] == []
    shown = "".join(token.content for token in flat if token.type in ("text", "code_inline", "fence"))
    assert "<script>alert(1)</script>" in shown  # the words, as text
    root = ET.fromstring(junit_xml(record).encode())  # well-formed, whatever the name holds
    assert any("<script>" in suite.attrib["name"] for suite in root)


def test_a_dependency_the_record_does_not_hold_is_left_out() -> None:
    before, after = story()
    assert after.services is not None
    api = after.services["api"].model_copy(update={"depends_on": ["store", "queue"]})
    record = after.model_copy(update={"services": {**after.services, "api": api}})
    header = render_markdown(record, before).split("\n## ", 1)[0]
    assert "**queue**" not in header and "  - **api**" in header
    assert "loopctl.checks.api" in junit_xml(record)
