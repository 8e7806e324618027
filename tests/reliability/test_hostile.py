"""Hostile servers and hostile names: every check ends classified and bounded, and nothing leaks or injects.

Every output is read back: the record, the report, JUnit, the step summary, the suite log, stdout and stderr of
`iterate` (plain and in a terminal), `report`, `report --format json`, `history` and `history --json`.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.reliability.harness import (
    EXIT_CHECKS,
    assert_no_traceback,
    assert_nowhere,
    in_a_terminal,
    iterations,
    phase,
    record_of,
    run_loopctl,
    write_config,
)
from tests.reliability.hostile import HOSTILE, INSTRUCTIONS, hostile_server

TOKEN = "Zq7XwVt2Kp9RmN4sLb6Hc3Jd8Fg1"  # sent as a bearer token, read from the environment
QUERY_TOKEN = "Qy+4/Tn=Wm8Rv2Lk6Pj9Hd3Bx="  # sent as ?token=, so it travels URL-encoded; read from a file
URL_PASSWORD = "Pw5Gh8Jk2Ln7Qr4St"  # ws://probe:PASSWORD@host: the client turns it into a Basic credential
SECRETS = (TOKEN, QUERY_TOKEN, URL_PASSWORD, "Qy%2B4%2FTn%3DWm8Rv2Lk6Pj9Hd3Bx%3D")
CHECK_NAME = "chat [/] <i>x</i>"  # Rich markup and HTML in a config value: shown as written, never as markup

# Anything a terminal or a markdown renderer would act on: C0 (but tab and newline), DEL, C1, bidi, non-characters.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff\ud800-\udfff]")

SUITE = """\
import json, sys
from xml.sax.saxutils import escape, quoteattr
text = json.load(open(sys.argv[2]))
print(text)
print(text, file=sys.stderr)
xml_ok = "".join(ch for ch in text if ch in "\\t\\n" or (" " <= ch < "\\ud800") or ("\\ue000" <= ch < "\\ufffe"))
case = f"<testcase name={quoteattr(xml_ok)}><failure message={quoteattr(xml_ok)}>{escape(xml_ok)}</failure></testcase>"
open(sys.argv[1], "w").write(f'<testsuite tests="2" failures="1">{case}<testcase name="fine"/></testsuite>')
"""


def hostile_config(address: str, vault: Path) -> str:
    script = vault / "hostile_suite.py"
    script.write_text(SUITE)
    (vault / "hostile.json").write_text(json.dumps(HOSTILE))
    command = shlex.join([sys.executable, str(script)]) + " {junit} " + shlex.quote(str(vault / "hostile.json"))
    return f"""\
project: "hostile [/] <b>bold</b>"
deploy: {{target: url, url: "http://{address}"}}
probe:
  checks:
    - name: "{CHECK_NAME}"
      websocket: {{path: /hostile, expect_events: [hello, done], timeout: 3}}
    - name: conversation
      websocket: {{path: /hostile, timeout: 3, steps: [{{expect: {{type: hello}}}}, {{expect: {{type: never}}}}]}}
    - name: body
      http: {{path: /hostile, timeout: 5}}
    - name: bearer-echo
      websocket: {{path: /echo-token, auth: {{type: bearer, token: {{env: HOSTILE_TOKEN}}}}, timeout: 5}}
    - name: http-echo
      http: {{path: /echo-token, timeout: 5, auth: {{token: {{env: HOSTILE_TOKEN}}}}}}
    - name: query-echo
      websocket: {{path: /echo-token, auth: {{type: query, token: {{file: query-token}}}}, timeout: 5}}
    - name: password-echo
      websocket: {{url: "ws://probe:{URL_PASSWORD}@{address}/echo-token", timeout: 5}}
suites:
  - name: hostile-suite
    command: {json.dumps(command)}
"""


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two iterations against the hostile server (plain with every output, then in a terminal), then readers."""
    root = tmp_path_factory.mktemp("hostile")
    folder, vault = root / "run", root / "vault"
    vault.mkdir()
    summary, junit = root / "step-summary.md", root / "junit.xml"
    env = {"HOSTILE_TOKEN": TOKEN, "GITHUB_STEP_SUMMARY": str(summary)}
    with hostile_server() as address:
        write_config(folder, hostile_config(address, vault))
        (folder / "query-token").write_text(QUERY_TOKEN + "\n")  # relative to config.yaml, not to the cwd
        plain = run_loopctl(
            root,
            "iterate",
            "--config",
            str(folder / "config.yaml"),
            "--ci",
            "--json",
            "--junit-xml",
            str(junit),
            env=env,
        )
        terminal = in_a_terminal(folder, env)
    (folder / "query-token").unlink()  # the user's file, not loopctl's output: the scan below reads only outputs
    readers = {
        " ".join(args): run_loopctl(folder, *args, env=env)
        for args in (["report", "1", "--format", "json"], ["report", "2"], ["history", "--json"], ["history"])
    }
    return {
        "root": root,
        "folder": folder,
        "plain": plain,
        "terminal": terminal,
        "readers": readers,
        "summary": summary.read_text(encoding="utf-8"),
        "junit": junit.read_text(encoding="utf-8"),
    }


def checks_of(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in record["checks"]}


def test_every_hostile_exchange_is_classified_and_the_run_exits_1(hostile_run: dict[str, Any]) -> None:
    plain, terminal = hostile_run["plain"], hostile_run["terminal"]
    assert (plain.returncode, terminal.returncode) == (EXIT_CHECKS, EXIT_CHECKS), plain.stderr + terminal.stdout
    assert_no_traceback(plain.stderr, terminal.stdout)
    record = record_of(hostile_run["folder"], 1)
    assert json.loads(plain.stdout)["data"] == record
    outcomes = {
        name: (check["outcome"]["category"], check["outcome"]["code"]) for name, check in checks_of(record).items()
    }
    assert outcomes == {
        CHECK_NAME: ("internal_error", 1011),
        "conversation": ("internal_error", 1011),
        "body": ("server_error", 500),
        "bearer-echo": ("handshake_rejected", 401),
        "http-echo": ("unauthorized", 401),
        "query-echo": ("handshake_rejected", 401),
        "password-echo": ("handshake_rejected", 401),
    }
    assert record["suites"][0]["failed"] == 1 and record["status"] == "failed"
    assert record_of(hostile_run["folder"], 2)["status"] == "no_change"


def test_what_a_server_says_is_kept_as_data(hostile_run: dict[str, Any]) -> None:
    checks = checks_of(record_of(hostile_run["folder"], 1))
    chat = checks[CHECK_NAME]
    assert chat["events_seen"][0] == "hello" and len(chat["events_seen"]) == 3 and chat["events_count"] == 3
    assert "## Owned <b>x</b> [/]" in chat["events_seen"][1]  # the words stay, the escape sequences go
    assert "# Owned" in chat["outcome"]["reason"] and "<img src=x" in chat["outcome"]["reason"]
    instead = checks["conversation"]["steps"]["instead"]  # the frames a step skipped: cleaned, kept as words
    assert len(instead) == 2 and "## Owned <b>x</b> [/]" in instead[0] and all(len(each) <= 160 for each in instead)
    for name in ("bearer-echo", "http-echo"):
        reason = checks[name]["outcome"]["reason"]
        # Masked before the 200-character cut: the whole token is ***, not the 22 characters before the cut.
        assert "you sent: Bearer *** " in reason and len(reason) == 200, reason
    assert len(checks["query-echo"]["outcome"]["reason"]) == 200  # cut after the mask: no part of the token
    assert checks["password-echo"]["url"] == f"ws://probe:***@{checks['password-echo']['url'].split('@')[1]}"


def outputs_of(run: dict[str, Any], *, terminal: bool) -> dict[str, str]:
    places = {
        "iterate stdout": run["plain"].stdout,
        "iterate stderr": run["plain"].stderr,
        "step summary": run["summary"],
        "junit": run["junit"],
        **{f"{name} stdout": done.stdout for name, done in run["readers"].items()},
        **{f"{name} stderr": done.stderr for name, done in run["readers"].items()},
        **{
            str(path): path.read_text(encoding="utf-8")
            for path in iterations(run["folder"]).iterdir()
            if path.is_file()
        },
    }
    if terminal:
        places["terminal"] = run["terminal"].stdout
    return places


def test_no_secret_and_no_part_of_one_reaches_any_output(hostile_run: dict[str, Any]) -> None:
    outputs = outputs_of(hostile_run, terminal=True)
    assert_nowhere(SECRETS, folder=iterations(hostile_run["folder"]), outputs=outputs, window=8)


def test_no_escape_sequence_or_control_character_reaches_any_output(hostile_run: dict[str, Any]) -> None:
    for where, text in outputs_of(hostile_run, terminal=False).items():
        found = CONTROL.search(text)
        assert found is None, (where, text[max(0, found.start() - 40) : found.end() + 40])
    # The live view draws with escape sequences of its own; none of the server's may be among them.
    terminal = hostile_run["terminal"].stdout
    assert "\x1b[" in terminal  # it really drew on a terminal
    assert [marker for marker in INSTRUCTIONS if marker in terminal] == []


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_rich_markup_in_names_is_shown_literally(hostile_run: dict[str, Any]) -> None:
    assert f"{CHECK_NAME}: probing" in hostile_run["plain"].stderr
    drawn = ANSI.sub("", hostile_run["terminal"].stdout)
    assert "MarkupError" not in drawn and "✗  probe" in drawn  # the live view drew to the end


def all_tokens(tokens: list[Token]) -> list[Token]:
    return [item for token in tokens for item in [token, *all_tokens(token.children or [])]]


def assert_inert_markdown(where: str, source: str) -> None:
    """Parsed as GitHub would: no HTML, no link, no heading or fence that outside text opened."""
    tokens = all_tokens(MarkdownIt("commonmark").enable("table").parse(source))
    kinds = {token.type for token in tokens}
    assert not kinds & {"html_block", "html_inline", "link_open", "image"}, (where, kinds)
    inline_after_heading = [
        tokens[index + 1].content for index, token in enumerate(tokens) if token.type == "heading_open"
    ]
    assert not [heading for heading in inline_after_heading if "Owned" in heading], (where, inline_after_heading)
    assert {token.info for token in tokens if token.type == "fence"} <= {"text", "sh", "mermaid"}, where
    words = "".join(token.content for token in tokens if token.type in ("text", "code_inline"))
    assert CHECK_NAME in words, where  # escaped in the source, the same words once rendered


def test_the_report_and_the_step_summary_render_outside_text_as_text(hostile_run: dict[str, Any]) -> None:
    folder = hostile_run["folder"]
    for number in (1, 2):
        assert_inert_markdown(f"{number:04d}.md", (iterations(folder) / f"{number:04d}.md").read_text())
    assert_inert_markdown("report 2", hostile_run["readers"]["report 2"].stdout)
    assert_inert_markdown("step summary", hostile_run["summary"])


def test_junit_is_well_formed_and_names_everything_as_written(hostile_run: dict[str, Any]) -> None:
    root = ET.fromstring(hostile_run["junit"].encode())
    names = {case.attrib["name"] for case in root.iter("testcase")}
    assert CHECK_NAME in names
    parsed = JUnitXml.fromstring(hostile_run["junit"])
    assert sum(suite.tests for suite in parsed) == len(list(root.iter("testcase")))


def test_machine_outputs_are_one_json_document_each(hostile_run: dict[str, Any]) -> None:
    readers = hostile_run["readers"]
    assert json.loads(readers["report 1 --format json"].stdout)["data"]["number"] == 1
    rows = json.loads(readers["history --json"].stdout)["data"]["iterations"]
    assert [row["status"] for row in rows] == ["failed", "no_change"]
    for done in readers.values():
        assert done.returncode == 0, done.stderr
        assert_no_traceback(done.stderr)


def test_the_suite_log_keeps_the_words_without_the_escapes(hostile_run: dict[str, Any]) -> None:
    log = (iterations(hostile_run["folder"]) / "0001.suite-hostile-suite.log").read_text()
    assert "# Owned heading" in log and "[bold red]red[/bold red]" in log
    assert phase(record_of(hostile_run["folder"], 1), "suites")["status"] == "failed"


HOSTILE_PROBE = ("--expect-event", "done", "--timeout", "2")


def test_a_hostile_server_cannot_make_the_probe_command_print_escapes_or_secrets(tmp_path: Path) -> None:
    with hostile_server() as address:
        runs = {
            # The server never ends TCP after its close frame: the probe judges the frame when its time is up.
            "json": run_loopctl(tmp_path, "probe", f"ws://{address}/hostile", *HOSTILE_PROBE, "--json"),
            "human": run_loopctl(tmp_path, "probe", f"ws://{address}/hostile", *HOSTILE_PROBE),
            "echo": run_loopctl(
                tmp_path, "probe", f"http://{address}/echo-token", "--token-env", "T", "--json", env={"T": TOKEN}
            ),
            "events": run_loopctl(
                tmp_path,
                "probe",
                f"ws://{address}/echo-events",
                *HOSTILE_PROBE,
                "--token-env",
                "T",
                "--json",
                env={"T": TOKEN},
            ),
        }
    assert {name: done.returncode for name, done in runs.items()} == {"json": 1, "human": 1, "echo": 1, "events": 1}
    document = json.loads(runs["json"].stdout)["data"]
    assert document["events_count"] == 3 and document["outcome"]["code"] == 1011
    events = json.loads(runs["events"].stdout)["data"]
    assert events["events_seen"] == ["Bearer ***"]  # an event name is server text too
    for name, done in runs.items():
        found = CONTROL.search(done.stdout + done.stderr)
        assert found is None, (name, done.stdout + done.stderr)
        assert_no_traceback(done.stderr)
    assert "[/]" in runs["human"].stderr  # the reason's Rich markup, printed as text
    assert_nowhere([TOKEN], folder=tmp_path, outputs={n: d.stdout + d.stderr for n, d in runs.items()}, window=8)


def test_the_probe_command_refuses_an_unknown_header_value_without_a_traceback(tmp_path: Path) -> None:
    done = run_loopctl(tmp_path, "probe", "http://127.0.0.1:9/", "--header", "X-A: b\x01c", "--json")
    assert done.returncode == 2 and json.loads(done.stdout)["errors"][0]["kind"] == "usage", done.stderr
    assert_no_traceback(done.stderr)


def test_a_secret_only_a_skipped_phase_would_read_is_masked_all_the_same(tmp_path: Path) -> None:
    secret = "deploy-only-secret-Hq83Lm"
    (tmp_path / "deploy-secret").write_text(secret + "\n")
    write_config(
        tmp_path,
        "project: skipped\n"
        "deploy: {target: docker, docker: {name: never-started, env: {KEY: {file: deploy-secret}}}}\n"
        "suites:\n  - name: tattle\n    command: 'echo the deploy key is $(cat deploy-secret); exit 1'\n",
    )
    done = run_loopctl(tmp_path, "iterate", "--config", str(tmp_path / "config.yaml"), "--ci", "--skip", "deploy")
    assert done.returncode == EXIT_CHECKS, done.stderr
    assert "the deploy key is ***" in (iterations(tmp_path) / "0001.suite-tattle.log").read_text()
    assert_nowhere([secret], folder=iterations(tmp_path), outputs={"out": done.stdout + done.stderr}, window=8)
