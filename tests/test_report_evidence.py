"""The report's evidence: the server's error quoted, its evolution, the changes since, and old records unchanged."""

from __future__ import annotations

import re
from typing import Any

from loopctl.probe import classify
from loopctl.records.record import Record
from loopctl.reports.evidence import NO_ERROR_MEANS
from loopctl.reports.markdown import render_markdown
from tests.support.records import closed, http_check, make_record, phases, sha, story

TYPE_ERROR = {
    "type": "TypeError",
    "message": "user_context must be a UserExecutionContext instance",
    "location": "app/ws/auth.py:419",
    "lines": ["ERROR handler failed", "Traceback (most recent call last):", "TypeError: user_context must be …"],
}
KEY_ERROR = {"type": "KeyError", "message": "'text'", "location": "app/handlers.py:42", "lines": ["KeyError: 'text'"]}
READ = {"read": True, "source": "Cloud Logging for revision backend-staging-00154-v9v", "lines": 12}


def probe_phases(evidence: dict[str, Any] | None) -> list[dict[str, Any]]:
    detail = {"passed": 1, "total": 2, **({"evidence": evidence} if evidence is not None else {})}
    return phases(False, probe={"detail": detail})


def failing(
    number: int, error: dict[str, Any] | None, *, evidence: dict[str, Any] | None = READ, **fields: Any
) -> Record:
    chat = {**closed(1011, "Internal error", ["agent_started"]), "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    if error is not None:
        chat["server_error"] = error
    return make_record(
        number, "progress", checks=[http_check(), chat], phase_rows=probe_phases(evidence), schema=2, **fields
    )


def section(report: str, title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", report, re.MULTILINE | re.DOTALL)
    assert found is not None, report
    return found.group("body")


def test_the_summary_quotes_the_server_error_and_failures_keep_its_log() -> None:
    report = render_markdown(failing(2, TYPE_ERROR), None)
    quoted = (
        "1011 at message processing — server raised "
        "`TypeError: user_context must be a UserExecutionContext instance` (`app/ws/auth.py:419`)"
    )
    assert f"**Server error** in **chat-events**: {quoted}" in section(report, "Summary")
    failures = section(report, "Failures")
    assert "server raised" not in failures  # quoted once, in the Summary
    assert "- **Trace**: `4bf92f3577b34da6a3ce929d0e0e4736`" in failures
    assert (
        "<summary>Server log from Cloud Logging for revision backend-staging-00154-v9v (3 lines)</summary>" in failures
    )
    assert "```text\nERROR handler failed\nTraceback (most recent call last):\n" in failures
    assert failures.rstrip().endswith("</details>")
    assert "server raised" not in section(report, "Next iteration priorities")


def test_no_error_in_a_read_log_is_said_and_an_unread_log_says_why() -> None:
    report = render_markdown(failing(2, None), None)
    assert "- **Server log**: no line in the window says why (trace `4bf92f35" in report
    assert "the server's own answer: `1011 Internal error`" in report
    assert "**Server error**" not in report
    unread = render_markdown(failing(2, None, evidence={"read": False, "note": "the url target has no log"}), None)
    assert "- **Server log**: not read — the url target has no log" in unread
    noted = render_markdown(failing(2, None, evidence={**READ, "note": "entries may be incomplete"}), None)
    assert "- **Log note**: entries may be incomplete" in noted


def test_error_evolution_against_the_previous_iteration() -> None:
    changed = render_markdown(failing(3, TYPE_ERROR), failing(2, KEY_ERROR))
    assert "### Error evolution\n\n- **chat-events**: server error changed: `KeyError` → `TypeError`" in changed
    same = render_markdown(failing(3, TYPE_ERROR), failing(2, TYPE_ERROR))
    assert "- **chat-events**: same exception as iteration 2: `TypeError`" in same
    gone = render_markdown(failing(3, None), failing(2, KEY_ERROR))
    assert "- **chat-events**: no server error any more (it was `KeyError`)" in gone
    unknown = render_markdown(failing(3, None, evidence={"read": False, "note": "gone"}), failing(2, KEY_ERROR))
    assert "Error evolution" not in unknown  # the log was not read: nothing can be said


def test_hostile_log_lines_stay_inside_their_fence_and_summary() -> None:
    nasty = {**KEY_ERROR, "lines": ["```", "</details><script>alert(1)</script>", "````` five"]}
    evidence = {**READ, "source": "docker logs of <b>svc</b> (abc)"}
    report = render_markdown(failing(2, nasty, evidence=evidence), None)
    assert "\n``````text\n```\n</details><script>alert(1)</script>\n````` five\n``````\n" in report
    assert "<summary>Server log from docker logs of &lt;b&gt;svc&lt;/b&gt; (abc) (3 lines)</summary>" in report


def test_changes_since_the_previous_iteration() -> None:
    changes = {
        "since": 1,
        "from_commit": sha(1),
        "to_commit": sha(2),
        "commits": ["Accept the probe's token", "Name `user_context` | once"],
        "files": [{"path": "app/ws/auth.py", "added": 12, "removed": 3}, {"path": "logo.png", "added": None}],
        "config_changed": ["probe.checks", "deploy.cloudrun"],
        "input_changed": True,
    }
    report = render_markdown(failing(2, None, changes=changes, dirty=True), None)
    body = section(report, "Changes since iteration 1")
    assert "From `1111111` to `2222222+`: 2 commits:" in body
    assert "- `` Name `user_context` | once ``" in body
    assert "| `app/ws/auth.py` | +12 | −3 |" in body and "| `logo.png` | binary | binary |" in body
    assert "Config changed: `probe.checks`, `deploy.cloudrun`." in body
    assert report.index("## Summary") < report.index("## Changes since iteration 1") < report.index("## Deployment")


def test_changes_outside_git_fall_back_to_the_input_digest() -> None:
    changes = {"since": 1, "in_git": False, "input_changed": False, "note": "not a git work tree"}
    body = section(render_markdown(failing(2, None, changes=changes), None), "Changes since iteration 1")
    assert body.strip() == "not a git work tree. Build context input digest: unchanged."


def test_records_written_before_evidence_render_as_before() -> None:
    old = story()
    report = render_markdown(old[1], old[0])
    assert old[1].schema_ == 1 and old[1].changes is None
    for absent in ("Server error", "Server log", "Error evolution", "Changes since"):
        assert absent not in report


def test_a_cut_read_says_what_it_held_and_never_claims_silence() -> None:
    partial = "the first 1.0 MB and the last 4.0 MB of 10.2 MB logged in the window"
    cut = {**READ, "source": "docker logs of svc (0123456789ab)", "partial": partial}
    report = render_markdown(failing(2, None, evidence=cut), None)
    failures = section(report, "Failures")
    assert "no server error logged in the window" not in report and "the app saw nothing wrong" not in report
    assert "- **Server log**: no server error in the part of the window's log that was read" in failures
    assert f"- **Log read**: {partial} (the part between was not read)" in failures
    quoted = render_markdown(failing(2, KEY_ERROR, evidence=cut), None)
    assert f"- **Log read**: {partial}" in section(quoted, "Failures")
    went = render_markdown(failing(3, None, evidence=cut), failing(2, KEY_ERROR))
    assert "no server error any more" not in went  # the cut read may have missed it


def one_check_report(check: dict[str, Any], evidence: dict[str, Any] = READ) -> str:
    record = make_record(2, "progress", checks=[check], phase_rows=probe_phases(evidence), schema=2)
    return render_markdown(record, None)


def test_a_server_that_answered_is_never_said_to_have_seen_nothing() -> None:
    failures = section(one_check_report(closed(1008, "Authentication failed", [])), "Failures")
    answer = "the server's own answer: `1008 Authentication failed`"
    assert f"- **Server log**: no line in the window says why; {answer}" in failures
    assert "proxy" not in failures and "saw nothing wrong" not in failures
    dropped = one_check_report(closed(1006, "", []))
    assert NO_ERROR_MEANS in section(dropped, "Failures")  # no answer came back: a proxy or an OOM kill may be why


def test_an_http_checks_status_is_not_a_stage_of_the_exchange() -> None:
    report = one_check_report({**http_check(status=404), "server_error": KEY_ERROR})
    assert "HTTP 404 — server raised `KeyError: 'text'`" in report
    assert "404 at message processing" not in report


def test_a_quoted_refusal_is_not_an_error_to_track_the_evolution_of() -> None:
    warning = {"type": "WARNING", "message": "WARNING app: authentication failed", "lines": []}
    report = render_markdown(failing(2, TYPE_ERROR), failing(1, warning))
    assert "- **chat-events**: new server error: `TypeError`" in section(report, "Summary")
    assert "`WARNING` →" not in report


def test_a_process_that_died_is_said_in_the_summary_and_the_failure() -> None:
    ended = {
        "status": "exited",
        "exit_code": 1,
        "oom_killed": False,
        "restarts": 0,
        "finished_at": "2025-09-08T18:20:07.512345678Z",
        "lines": ["listening", "TypeError: boom"],
    }
    dropped = {**closed(1006, "", []), "started_at": "2025-09-08T18:20:07.000Z"}
    report = one_check_report(dropped, {**READ, "process": ended})
    assert "**Process**: the process exited with code 1 (at 18:20:07 UTC)" in section(report, "Summary")
    failures = section(report, "Failures")
    assert "- **Process**: the process exited with code 1, 0.5 s after this check started" in failures
    assert "<summary>The container's last lines (2 lines)</summary>" in failures and "TypeError: boom" in failures
    assert NO_ERROR_MEANS not in failures
    killed = one_check_report(dropped, {**READ, "process": {**ended, "oom_killed": True, "exit_code": 137}})
    assert "the process was killed for lack of memory (OOMKilled, exit code 137)" in killed


def test_a_check_that_failed_because_the_process_had_exited_is_said_so_and_comes_last() -> None:
    ended = {"status": "exited", "exit_code": 1, "oom_killed": False, "restarts": 0, "finished_at": None, "lines": []}
    reset = classify.connect_failure("connection_reset", "Remote end closed connection without response").model_dump()
    health = {**http_check(), "passed": False, "outcome": reset, "after_exit": True}
    crashed = closed(1006, "", ["agent_started"])
    record = make_record(2, "progress", checks=[health, crashed], phase_rows=probe_phases({**READ, "process": ended}))
    report = render_markdown(record, None)
    summary, failures = section(report, "Summary"), section(report, "Failures")
    assert "**Process**: the process exited with code 1; **health** failed only because it had exited" in summary
    assert "**Blocking outcome**: `1006 (abnormal closure)" in summary and "in **chat-events**" in summary
    assert failures.index("### chat-events (priority 1)") < failures.index("### health (priority 1)")
    after = "- **After the exit**: it got no answer because the service's process had exited (see Process)"
    assert f"{after}; a consequence of the exit, so the check whose exchange the exit cut short ranks" in failures
    priorities = section(report, "Next iteration priorities")
    assert "2. **health** (priority 1) stops at the HTTP upgrade" in priorities
    assert "the service's process had exited: what made it exit comes first" in priorities

    alone = make_record(2, "failed", checks=[health], phase_rows=probe_phases({**READ, "process": ended}))
    report = render_markdown(alone, None)
    assert "failed only because" not in report and f"{after}\n" in section(report, "Failures")
