"""A verdict is only as good as what ran: a check that could not run is never a pass, and an odd token never
crashes loopctl nor shows up in what it prints."""

from __future__ import annotations

import json
import resource
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.reliability.harness import (
    EXIT_CHECKS,
    EXIT_INCONCLUSIVE,
    EXIT_USAGE,
    LOOPCTL,
    assert_complete,
    assert_no_traceback,
    assert_nowhere,
    iterate,
    iterations,
    loopctl_env,
    phase,
    run_loopctl,
    url_config,
    write_config,
)
from tests.reliability.hostile import hostile_server


def echo_check(name: str, token: str) -> str:
    auth = f"{{type: bearer, token: {token}}}"
    return f"    - name: {name}\n      websocket: {{path: /echo-token, auth: {auth}, timeout: 3}}\n"


HEALTHY = "    - name: body\n      http: {path: /hostile, expect_status: 500, timeout: 3}\n"


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        pytest.param('{command: "false"}', "secret", id="failing-command"),
        pytest.param("{file: no-such-token-file}", "secret", id="missing-file"),
        pytest.param("{env: LOOPCTL_TEST_SPACE_TOKEN}", "secret", id="token-with-a-space"),
    ],
)
def test_a_check_whose_token_cannot_be_read_is_inconclusive_and_exits_2(tmp_path: Path, token: str, kind: str) -> None:
    with hostile_server() as address:
        write_config(tmp_path, url_config(f"http://{address}", HEALTHY + echo_check("chat", token)))
        done = iterate(
            tmp_path,
            "--ci",
            "--json",
            "--junit-xml",
            str(tmp_path / "junit.xml"),
            env={"LOOPCTL_TEST_SPACE_TOKEN": "two words"},
        )
    assert done.returncode == EXIT_USAGE, done.stderr
    assert_no_traceback(done.stderr)
    record = assert_complete(tmp_path, 1, status="inconclusive", phases=[("deploy", "ok"), ("probe", "failed")])
    assert json.loads(done.stdout)["data"] == record
    body, chat = record["checks"]
    assert body["passed"] and body["error"] is None  # the other check still ran
    assert (chat["passed"], chat["error"]["kind"], chat["outcome"]["category"]) == (False, kind, "not_run")
    report = (iterations(tmp_path) / "0001.md").read_text()
    assert "**Inconclusive**: could not run **chat**" in report and "✅" not in report.split("\n")[0]
    errors = ET.parse(tmp_path / "junit.xml").getroot().findall(".//testcase[@name='chat']/error")
    assert [error.attrib["type"] for error in errors] == [kind]
    assert_nowhere(["two words"], folder=iterations(tmp_path), outputs={"out": done.stdout + done.stderr})


def test_skipping_the_probe_is_inconclusive_never_success(tmp_path: Path) -> None:
    with hostile_server() as address:
        write_config(tmp_path, url_config(f"http://{address}", HEALTHY))
        skipped = iterate(tmp_path, "--ci", "--skip", "probe")
        never = iterate(tmp_path, "--ci", "--skip", "probe", "--fail-on", "never")
        ran = iterate(tmp_path, "--ci")
    assert (skipped.returncode, never.returncode, ran.returncode) == (EXIT_INCONCLUSIVE, 0, 0), skipped.stderr
    assert_complete(tmp_path, 1, status="inconclusive", phases=[("deploy", "ok"), ("probe", "skipped")])
    # An inconclusive iteration is no baseline: the next one compares with nothing before it.
    third = assert_complete(tmp_path, 3, status="success", phases=[("deploy", "ok"), ("probe", "ok")])
    assert third["previous"] is None
    assert "iteration 1: inconclusive" in skipped.stderr


def test_an_iteration_that_checks_nothing_is_inconclusive(tmp_path: Path) -> None:
    write_config(tmp_path, "project: nothing\ndeploy: {target: url, url: 'http://127.0.0.1:9'}\n")
    done = iterate(tmp_path, "--ci", "--json")
    assert done.returncode == EXIT_INCONCLUSIVE, done.stderr
    assert json.loads(done.stdout)["data"]["status"] == "inconclusive"
    assert "no check or suite test ran" in (iterations(tmp_path) / "0001.md").read_text()


BAD_TOKENS = {
    "newline": "abc\ndef-token-4471",
    "space": "abc def-token-4471",
    "comma": "abc,def-token-4471",
    "non-latin-1": "abc\u20acdef-token-4471",
}


@pytest.mark.parametrize("source", ["env", "file", "command"])
@pytest.mark.parametrize("problem", list(BAD_TOKENS))
def test_a_token_no_header_can_carry_is_a_usage_error_naming_its_source(
    tmp_path: Path, source: str, problem: str
) -> None:
    token = BAD_TOKENS[problem]
    (tmp_path / "token").write_text(token + "\n", encoding="utf-8")
    option = {
        "env": ["--token-env", "ODD_TOKEN"],
        "file": ["--token-file", str(tmp_path / "token")],
        "command": ["--token-command", f"cat {tmp_path / 'token'}"],
    }[source]
    done = run_loopctl(tmp_path, "probe", "ws://127.0.0.1:9/ws", *option, "--json", env={"ODD_TOKEN": token})
    assert done.returncode == EXIT_USAGE, done.stderr
    assert_no_traceback(done.stderr)
    error = json.loads(done.stdout)["errors"][0]
    assert error["kind"] == "secret" and f"from {source}:" in error["message"], error
    assert {"newline": "a newline", "space": "a space", "comma": "a comma"}.get(problem, "Latin-1") in error["message"]
    assert_nowhere([token, "def-token-4471"], folder=tmp_path / "nothing", outputs={"out": done.stdout + done.stderr})


def test_a_token_with_slash_or_equals_cannot_be_a_subprotocol_but_travels_as_a_query(tmp_path: Path) -> None:
    token = "Ab+Cd/Ef=Gh1234567890=="
    with hostile_server() as address:
        subprotocol = run_loopctl(
            tmp_path,
            "probe",
            f"ws://{address}/echo-token",
            "--token-env",
            "T",
            "--auth",
            "subprotocol",
            env={"T": token},
        )
        query = run_loopctl(
            tmp_path,
            "probe",
            f"ws://{address}/echo-token",
            "--token-env",
            "T",
            "--auth",
            "query",
            "--json",
            env={"T": token},
        )
    assert subprotocol.returncode == EXIT_USAGE and "subprotocol" in subprotocol.stderr, subprotocol.stderr
    assert query.returncode == EXIT_CHECKS and json.loads(query.stdout)["data"]["outcome"]["code"] == 401, query.stderr
    outputs = {"subprotocol": subprotocol.stdout + subprotocol.stderr, "query": query.stdout + query.stderr}
    assert_nowhere([token, "Ab%2BCd%2FEf%3DGh1234567890%3D%3D"], folder=tmp_path / "none", outputs=outputs, window=8)


def test_a_load_probe_past_the_open_file_limit_fails_its_phase_and_the_iteration_is_still_recorded(
    tmp_path: Path,
) -> None:
    """`OSError: Too many open files` inside the probe: that phase's classified failure, never a lost iteration."""
    load = "    - name: crowd\n      websocket: {path: /endless, timeout: 2, hold: 1}\n      load: {concurrency: 400}\n"

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))

    with hostile_server() as address:
        write_config(tmp_path, url_config(f"http://{address}", load))
        done = subprocess.run(
            [*LOOPCTL, "iterate", "--config", str(tmp_path / "config.yaml"), "--ci", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=loopctl_env(),
            cwd=tmp_path,
            preexec_fn=few_files,
            check=False,
        )
    assert done.returncode == EXIT_INCONCLUSIVE, done.stderr
    assert_no_traceback(done.stderr)
    record = assert_complete(tmp_path, 1, status="inconclusive", phases=[("deploy", "ok"), ("probe", "failed")])
    error = phase(record, "probe")["error"]
    assert error["kind"] == "internal_error" and "Too many open files" in error["message"], error
    assert json.loads(done.stdout)["data"] == record


def test_a_header_value_no_http_library_would_send_makes_its_check_not_run(tmp_path: Path) -> None:
    check = '    - name: chat\n      websocket: {path: /hostile, headers: {X-Env: "a\\x01b\\nInjected: 1"}}\n'
    with hostile_server() as address:
        write_config(tmp_path, url_config(f"http://{address}", HEALTHY + check))
        done = iterate(tmp_path, "--ci")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert_no_traceback(done.stderr)
    record = assert_complete(tmp_path, 1, status="inconclusive", phases=[("deploy", "ok"), ("probe", "failed")])
    chat = record["checks"][1]
    assert chat["error"]["kind"] == "usage" and "header X-Env" in chat["error"]["message"]
