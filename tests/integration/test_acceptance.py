"""The acceptance story: a real fix loop (1008 → 1011 → success → unchanged) through every real part."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import Failure, JUnitXml

from tests.support.cloudrun_emulator import CloudRunEmulator
from tests.support.logging_emulator import LoggingEmulator, docker_feed
from tests.support.realparts import start_registry
from tests.support.story import (
    EVENTS,
    PROJECT,
    REGION,
    REPO,
    SERVICE,
    TOKEN_PREFIX,
    Workspace,
    copy_reports,
    make_workspace,
    remove_images,
)

SAMPLE_REPORTS_ENV = "LOOPCTL_SAMPLE_REPORTS"
CI_EXAMPLES = REPO / "examples" / "ci"
REVISION = re.compile(rf"{SERVICE}-(?P<number>\d{{5}})-[a-z0-9]{{3}}")
FIX_1 = "Accept the probe's token"
SETTINGS = "agent-service/agent_service/settings.py"
EXCEPTION = "TypeError: user_context must be a UserExecutionContext instance"


@dataclass(frozen=True)
class Story:
    """Four iterations of one user's folder, what the emulated Cloud Run kept, and the read-back commands."""

    workspace: Workspace
    service: dict[str, Any]
    revisions: list[str]
    history: subprocess.CompletedProcess[str]
    report_2: subprocess.CompletedProcess[str]

    @property
    def junit(self) -> Path:
        return self.workspace.root / "junit.xml"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """Authentication bug → message-handling bug → fixed → run again unchanged, each fix an edit of the source."""
    secret = f"acceptance-jwt-{secrets.token_hex(12)}"
    with contextlib.ExitStack() as stack:
        registry = stack.enter_context(start_registry(tmp_path_factory.mktemp("registry")))
        stack.callback(remove_images, f"{registry.address}/agent-service")  # after the emulator's containers go
        emulator = stack.enter_context(CloudRunEmulator(startup_timeout_s=30))
        emulator.secrets["jwt-secret"] = secret  # the service reads it from Secret Manager
        logging = stack.enter_context(LoggingEmulator())
        logging.feeds.append(docker_feed(emulator.runtime, PROJECT))  # what the revisions' containers print
        root = tmp_path_factory.mktemp("run")
        workspace = make_workspace(
            root,
            registry=registry.address,
            endpoint=emulator.endpoint,
            logging_endpoint=logging.endpoint,
            secret=secret,
        )

        workspace.set_fault_default("auth")
        workspace.commit("Agent service behind a token check")
        workspace.iterate("--ci")
        workspace.set_fault_default("internal")
        workspace.commit(FIX_1)
        workspace.iterate("--ci", "--junit-xml", str(root / "junit.xml"))
        workspace.set_fault_default("")  # the second fix, not committed yet: the iteration runs on a dirty tree
        workspace.iterate("--ci")
        workspace.iterate("--ci", "--json")

        full_name = f"projects/{PROJECT}/locations/{REGION}/services/{SERVICE}"
        revisions = sorted(item["name"].rsplit("/", 1)[-1] for item in emulator.plane.list_revisions(full_name))
        story = Story(
            workspace=workspace,
            service=emulator.service(PROJECT, REGION, SERVICE),
            revisions=revisions,
            history=workspace.loopctl("history", "--json"),
            report_2=workspace.loopctl("report", "2"),
        )
        if target := os.environ.get(SAMPLE_REPORTS_ENV):
            copy_reports(workspace, range(1, 5), Path(target))
        yield story


def section(report: str, title: str) -> str:
    """The body of one `## title` section of a report."""
    found = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", report, re.MULTILINE | re.DOTALL)
    assert found is not None, f"no '## {title}' section in:\n{report}"
    return found.group("body")


def p1_rate(record: dict[str, Any]) -> str:
    """`1/2 (50%)`: priority-1 checks passed over run, read from the record itself."""
    checks = [check for check in record["checks"] if check["priority"] == 1]
    passed = sum(check["passed"] for check in checks)
    return f"{passed}/{len(checks)} ({round(100 * passed / len(checks))}%)"


def revision_number(record: dict[str, Any]) -> int:
    found = REVISION.fullmatch(record["deploy"]["revision"])
    assert found is not None, record["deploy"]
    return int(found.group("number"))


def chat(record: dict[str, Any]) -> dict[str, Any]:
    check: dict[str, Any] = next(check for check in record["checks"] if check["name"] == "chat-events")
    return check


def phase(record: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(item for item in record["phases"] if item["name"] == name)
    return found


# ----------------------------------------------------------------------------- iteration 1


def test_iteration_1_fails_on_authentication(story: Story) -> None:
    run, record = story.workspace.runs[0], story.workspace.record(1)
    assert run.returncode == 1, run.stderr
    assert record["status"] == "failed"  # a first iteration that is not green: nothing to be progress from
    assert (record["outcome"]["code"], record["outcome"]["category"]) == (1008, "policy_violation")
    assert revision_number(record) == 1
    assert record["build"]["cached"] == "no" and record["push"]["uploaded"] is True
    assert record["deploy"]["image"] == record["push"]["pinned"]  # deployed by digest, never by tag
    assert [item["status"] for item in record["phases"]] == ["ok", "ok", "ok", "failed"]

    report = story.workspace.report(1)
    assert report.startswith("# agent-service — iteration 1: failed\n")
    assert f"- **Deployment**: `{record['deploy']['revision']}`" in report
    assert "- First iteration: nothing to compare with" in report
    assert "`received 1008 (policy violation) Authentication failed` in **chat-events**" in section(report, "Summary")
    assert "- Not working yet: Users can chat and see the agent work (chat-events)" in report
    # The service logged no error for a rejected token, but it did say why it refused: that line is quoted.
    assert re.fullmatch(r"[0-9a-f]{32}", chat(record)["trace_id"])
    assert chat(record)["server_error"]["message"].endswith("agent_service: rejected connection: FAULT=auth")
    quote = "server logged `INFO agent_service: rejected connection: FAULT=auth`"
    assert quote in section(report, "Summary") and report.count(quote) == 1  # said once, where the reader starts
    assert record["changes"] is None and "## Changes since" not in report


# ----------------------------------------------------------------------------- iteration 2


def test_iteration_2_moves_from_authentication_to_message_processing(story: Story) -> None:
    run, before, record = story.workspace.runs[1], story.workspace.record(1), story.workspace.record(2)
    assert run.returncode == 1, run.stderr
    assert record["status"] == "progress" and record["previous"] == 1
    assert (record["outcome"]["code"], record["outcome"]["category"]) == (1011, "internal_error")
    assert chat(record)["events_seen"] == ["agent_started"]
    assert revision_number(record) == 2
    assert record["deploy"]["previous_revision"] == before["deploy"]["revision"]
    assert record["push"]["digest"] != before["push"]["digest"]  # one edited file, a new image

    report = story.workspace.report(2)
    summary = section(report, "Summary")
    assert "**Blocking outcome**: 1008 → 1011: moved from authentication to message processing — progress" in summary
    assert "- **BEFORE**: `received 1008 (policy violation) Authentication failed`" in summary
    assert "- **AFTER**: `received 1011 (internal error) Internal error`" in summary
    assert "- **MEANING**: moved from authentication to message processing — progress" in summary
    assert "- **EVENTS**: 0/5 → 1/5 expected events arrived" in summary
    results = section(report, "Results compared")
    assert f"| Priority 1 | {p1_rate(before)} | {p1_rate(record)} |" in results
    assert "| Priority 1 | 1/2 (50%) | 1/2 (50%) |" in results
    assert "| chat-events | ❌ policy_violation | ❌ internal_error |" in results
    assert "| agent_started | ❌ | ✅ |" in results
    priorities = section(report, "Next iteration priorities")
    assert priorities.strip().startswith("1. **chat-events** (priority 1) stops at message processing")
    assert "message handler" in priorities
    assert not re.search(r"^2\. ", priorities, re.MULTILINE)  # health passes: one thing to fix


def test_iteration_2_quotes_the_services_exception_for_the_1011(story: Story) -> None:
    record = story.workspace.record(2)
    error = chat(record)["server_error"]
    assert (error["type"], f"{error['type']}: {error['message']}") == ("TypeError", EXCEPTION)
    # The repo path of the file (as the Changes table names it), not the tail of its path in the container.
    assert re.fullmatch(r"agent-service/agent_service/conversation\.py:\d+ in \w+", error["location"])
    assert error["lines"][-1] == EXCEPTION
    where = f"(`{error['location']}`)"
    quoted = f"1011 at message processing — server raised `{EXCEPTION}` {where}"

    report = story.workspace.report(2)
    assert f"**Server error** in **chat-events**: {quoted}" in section(report, "Summary")
    assert report.count(f"server raised `{EXCEPTION}`") == 1  # once, in the Summary
    failures = section(report, "Failures")
    assert "<details>" in failures and f"\n{EXCEPTION}\n```\n\n</details>" in failures
    assert "- **chat-events**: new server error: `TypeError`" in section(report, "Summary")


def test_iteration_2_lists_the_commit_and_file_since_iteration_1(story: Story) -> None:
    before, record = story.workspace.record(1), story.workspace.record(2)
    changes = record["changes"]
    assert (changes["since"], changes["from_commit"], changes["commits"]) == (1, before["git"]["commit"], [FIX_1])
    assert changes["files"] == [{"path": SETTINGS, "added": 1, "removed": 1, "service": None}]  # one service
    assert changes["config_changed"] == [] and changes["input_changed"] is True
    body = section(story.workspace.report(2), "Changes since iteration 1")
    assert f"- `{FIX_1}`" in body and f"| `{SETTINGS}` | +1 | −1 |" in body and "Config: unchanged." in body


def test_iteration_2_junit_loads_with_one_failure(story: Story) -> None:
    document = JUnitXml.fromfile(str(story.junit))
    cases = {case.name: case for suite in document for case in suite}
    failing = {name for name, case in cases.items() if any(isinstance(result, Failure) for result in case.result)}
    assert failing == {"chat-events"}
    assert document.failures == 1 and document.errors == 0
    assert {"build", "push", "deploy", "health", "chat-events"} <= set(cases)
    failure = next(result for result in cases["chat-events"].result if isinstance(result, Failure))
    assert failure.type == "internal_error" and "code: 1011" in (failure.text or "")


# ----------------------------------------------------------------------------- iteration 3


def test_iteration_3_succeeds_and_compares_with_iteration_2(story: Story) -> None:
    run, before, record = story.workspace.runs[2], story.workspace.record(2), story.workspace.record(3)
    assert run.returncode == 0, run.stderr
    assert record["status"] == "success" and record["previous"] == 2
    assert record["outcome"]["category"] == "success" and all(check["passed"] for check in record["checks"])
    assert chat(record)["events_seen"] == list(EVENTS)
    assert revision_number(record) == 3

    report = story.workspace.report(3)
    assert report.startswith("# agent-service — iteration 3: success\n")
    assert "- Compared with iteration 2 (" in report
    summary = section(report, "Summary")
    assert "- **BEFORE**: `received 1011 (internal error) Internal error`" in summary
    assert "- **MEANING**: moved from message processing to success — progress" in summary
    assert "- Now working: Users can chat and see the agent work (chat-events)" in summary
    results = section(report, "Results compared")
    assert "| Measure | Iteration 2 | Iteration 3 |" in results
    assert f"| Priority 1 | {p1_rate(before)} | {p1_rate(record)} |" in results
    assert "| Priority 1 | 1/2 (50%) | 2/2 (100%) |" in results
    rows = {line.split(" | ")[0].lstrip("| "): line for line in results.splitlines() if line.startswith("| ")}
    for event in EVENTS:
        assert rows[event].endswith(" | ✅ |"), rows[event]  # iteration 3's column
    assert rows["agent_started"] == "| agent_started | ✅ | ✅ |"
    assert section(report, "Failures").strip() == "None."
    assert "None: every check and suite passed, the loop can stop here." in report
    assert "- **chat-events**: no server error any more (it was `TypeError`); the check passes" in summary


def test_iteration_3_lists_the_files_of_the_uncommitted_fix(story: Story) -> None:
    before, record = story.workspace.record(2), story.workspace.record(3)
    assert record["git"]["dirty"] is True and record["git"]["commit"] == before["git"]["commit"]
    changes = record["changes"]
    assert changes["commits"] == [] and changes["files"] == [
        {"path": SETTINGS, "added": 1, "removed": 1, "service": None}
    ]
    body = section(story.workspace.report(3), "Changes since iteration 2")
    short = record["git"]["commit"][:7]
    assert f"From `{short}` to `{short}+`: 0 commits." in body
    assert f"| `{SETTINGS}` | +1 | −1 |" in body


# ----------------------------------------------------------------------------- iteration 4


def test_iteration_4_with_no_change_skips_build_and_push(story: Story) -> None:
    run, before, record = story.workspace.runs[3], story.workspace.record(3), story.workspace.record(4)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["data"] == record  # --json prints exactly the stored record
    assert record["build"]["cached"] == "remote" and record["build"]["image_id"] is None
    assert record["push"]["uploaded"] is False
    assert record["push"]["digest"] == before["push"]["digest"]
    assert record["build"]["input_digest"] == before["build"]["input_digest"]
    assert record["status"] == "success"
    assert record["deploy"]["image"] == before["deploy"]["image"]
    assert "(already in the registry)" in section(story.workspace.report(4), "Deployment")
    assert record["changes"]["files"] == [] and record["changes"]["input_changed"] is False
    assert "No file changed under the build context or in the config." in story.workspace.report(4)


def test_iteration_4_deploy_keeps_the_serving_revision(story: Story) -> None:
    before, record = story.workspace.record(3), story.workspace.record(4)
    # Nothing changed: the deploy phase sent no update at all, and the revision that served before serves still.
    assert record["deploy"]["revision"] == before["deploy"]["revision"]
    assert record["deploy"]["reused"] is True
    assert record["deploy"]["generation"] == before["deploy"]["generation"]
    assert [revision_number({"deploy": {"revision": name}}) for name in story.revisions] == [1, 2, 3]
    assert story.service["latestReadyRevision"].endswith(before["deploy"]["revision"])


def test_an_unchanged_iteration_costs_little(story: Story) -> None:
    record = story.workspace.record(4)
    assert (story.workspace.iterations / "0003.build.log").is_file()
    assert not (story.workspace.iterations / "0004.build.log").exists()  # the engine was never asked to build
    assert phase(record, "build")["duration_s"] + phase(record, "push")["duration_s"] < 2


def test_the_four_iterations_fit_the_time_budget(story: Story) -> None:
    # Four subprocesses through every real part; a deploy or probe that starts waiting shows up here first.
    assert len(story.workspace.seconds) == 4 and sum(story.workspace.seconds) < 90, story.workspace.seconds


# ----------------------------------------------------------------------------- reading it back


def test_history_and_report_read_the_records_back(story: Story) -> None:
    assert story.history.returncode == 0, story.history.stderr
    history = json.loads(story.history.stdout)["data"]
    assert history["schema"] == 1
    rows = history["iterations"]
    assert [row["number"] for row in rows] == [1, 2, 3, 4]
    assert [row["status"] for row in rows] == ["failed", "progress", "success", "success"]
    assert [(row["code"], row["depth"]) for row in rows] == [(1008, 2), (1011, 3), (None, 5), (None, 5)]
    assert [row["p1_rate"] for row in rows] == ["1/2 (50%)", "1/2 (50%)", "2/2 (100%)", "2/2 (100%)"]
    commits = [row["commit"] for row in rows]
    assert commits[2] == commits[3] == commits[1] + "+"  # iterations 3 and 4 ran on a dirty tree
    assert story.report_2.returncode == 0, story.report_2.stderr
    assert story.report_2.stdout == story.workspace.report(2)


def test_no_file_or_output_holds_the_secret_or_a_token(story: Story) -> None:
    written = story.workspace.written()
    assert story.workspace.root / "iterations" / "0001.json" in written
    for path, text in written.items():
        assert story.workspace.secret not in text, path
        assert TOKEN_PREFIX not in text, path
    runs = [*story.workspace.runs, story.history, story.report_2]
    printed = "".join(run.stdout + run.stderr for run in runs)
    assert story.workspace.secret not in printed and TOKEN_PREFIX not in printed
    # loopctl itself never shows a traceback; the service's own, quoted in report 2, is evidence (data).
    assert "Traceback" not in "".join(run.stderr for run in runs) + story.history.stdout


def test_ci_mode_prints_plain_lines_and_the_status(story: Story) -> None:
    first, last = story.workspace.runs[0], story.workspace.runs[2]
    assert "\x1b[" not in first.stderr and first.stdout == ""
    assert "iteration 1: failed — received 1008 (policy violation) Authentication failed" in first.stderr
    assert "iteration 3: success" in last.stderr


# ----------------------------------------------------------------------------- CI examples


def ci_commands(document: Any) -> list[str]:
    """Every `run:`/`args`/`script` string anywhere in a CI document."""
    if isinstance(document, dict):
        return [text for value in document.values() for text in ci_commands(value)]
    if isinstance(document, list):
        return [text for value in document for text in ci_commands(value)]
    return [document] if isinstance(document, str) else []


@pytest.mark.parametrize("name", ["github-actions.yml", "cloudbuild.yaml"])
def test_ci_examples_are_valid_yaml_with_the_iterate_step(name: str) -> None:
    text = (CI_EXAMPLES / name).read_text()
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    commands = ci_commands(document)
    assert any("loopctl iterate --ci --junit-xml report.xml" in command for command in commands), commands
    assert "--fail-on regression" in text
    assert "iterations/" in text and "report.xml" in text


def test_github_actions_restores_then_keeps_iterations_and_publishes_junit() -> None:
    workflow = yaml.safe_load((CI_EXAMPLES / "github-actions.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]

    def position(found: Callable[[dict[str, Any]], bool]) -> int:
        return next(index for index, step in enumerate(steps) if found(step))

    restore = position(lambda step: str(step.get("uses", "")).startswith("dawidd6/action-download-artifact@"))
    iterate = position(lambda step: "loopctl iterate" in str(step.get("run", "")))
    keep = position(lambda step: str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    publish = position(lambda step: str(step.get("uses", "")).startswith("mikepenz/action-junit-report@"))
    assert restore < iterate < keep and iterate < publish
    assert steps[restore]["with"]["name"] == steps[keep]["with"]["name"]
    assert steps[restore]["with"]["path"].rstrip("/") == steps[keep]["with"]["path"].rstrip("/") == "iterations"
    # The artifact and the JUnit report are kept when the iteration fails too: that is when they matter.
    assert steps[keep]["if"] == steps[publish]["if"] == "always()"
    assert steps[publish]["with"]["report_paths"] == "report.xml"


def test_cloudbuild_saves_iterations_before_it_fails() -> None:
    build = yaml.safe_load((CI_EXAMPLES / "cloudbuild.yaml").read_text())
    assert [step["id"] for step in build["steps"]] == ["restore-iterations", "iterate", "save-iterations", "verdict"]
    iterate = " ".join(build["steps"][1]["args"])
    assert "|| status=$$?" in iterate  # a failing iteration must not stop the build before iterations/ is saved
    assert "gs://" in " ".join(build["steps"][2]["args"]) and "report.xml" in " ".join(build["steps"][2]["args"])
    # Cloud Build substitutes every `$NAME`: a bash variable must be written `$$NAME`.
    known = {*build["substitutions"], "BRANCH_NAME", "BUILD_ID", "PROJECT_ID"}
    for text in ci_commands(build):
        names = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text.replace("$$", "")))
        assert names <= known, (names - known, text)
        assert not re.search(r"\$[^{A-Za-z_]", text.replace("$$", "")), text
