"""config.yaml errors: each names the dotted path and the line, and nothing is a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loopctl.config import load_config
from loopctl.errors import UsageError
from loopctl.init_template import Service, render_config

REPO = Path(__file__).resolve().parents[1]
GOOD = """\
project: demo
deploy: {target: url, url: "http://127.0.0.1:8080"}
probe:
  checks:
    - name: chat
      websocket:
        path: /ws
        auth: {type: bearer, token: {env: TOKEN}}
"""

MALFORMED = [
    ("project: [unclosed\n", "(while parsing a flow sequence at line 1)"),
    ("- just\n- a list\n", "c.yaml:1: the config must be a mapping"),
    ("deploy: {target: url, url: http://x}\n", "c.yaml:1: project: Field required"),
    ("project: demo\nbogus: 1\n", "c.yaml:2: bogus: unknown key"),
    (
        "project: demo\ndeploy:\n  target: moon\n",
        "c.yaml:3: deploy.target: Input should be 'url', 'docker' or 'cloudrun'",
    ),
    ("project: demo\ndeploy:\n  target: url\n", "c.yaml:2: deploy: Value error, target 'url' needs deploy.url"),
    ("project: demo\ndeploy:\n  target: docker\n", "deploy: Value error, target 'docker' needs a deploy.docker block"),
    (
        "project: demo\nprobe:\n  checks:\n    - name: a\n      priority: 7\n      http: {path: /}\n",
        "c.yaml:5: probe.checks[0].priority: Input should be less than or equal to 3",
    ),
    (
        "project: demo\nprobe:\n  checks:\n    - name: a\n      http: {path: /}\n      websocket: {path: /ws}\n",
        "probe.checks[0]: Value error, a check needs exactly one of 'http' or 'websocket'",
    ),
    (
        "project: demo\nprobe:\n  checks:\n    - name: a\n      websocket:\n        expect_evnts: [x]\n",
        "c.yaml:6: probe.checks[0].websocket.expect_evnts: unknown key",
    ),
    (
        "project: demo\nprobe:\n  checks:\n    - name: a\n      websocket:\n        auth: {token: hunter2}\n",
        "c.yaml:6: probe.checks[0].websocket.auth.token: expected one of {env: NAME}, {file: PATH}",
    ),
    (
        "project: demo\nprobe:\n  close_codes: {1008: auth}\n",
        "c.yaml:3: probe.close_codes: Value error, application close codes are 4000–4999, not 1008",
    ),
    (
        "project: demo\nprobe:\n  checks:\n    - name: a\n      http: {}\n    - name: a\n      http: {}\n",
        "probe.checks: Value error, check name 'a' is used twice",
    ),
    ("project: demo\nsuites:\n  - name: s\n    priority: 1\n", "c.yaml:3: suites[0].command: Field required"),
    ("project: demo\nprobe:\n  checks:\n    - name: a\n      http: {timeout: -1}\n", "probe.checks[0].http.timeout"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_configs_name_the_path_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_config(path, environ={})
    assert message in str(caught.value)


def test_a_missing_env_var_names_the_reference_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)
    with pytest.raises(UsageError) as caught:
        load_config(path, environ={})
    assert "c.yaml:8: probe.checks[0].websocket.auth.token.env: environment variable TOKEN is not set" in str(
        caught.value
    )
    assert load_config(path, environ={"TOKEN": "x"}).probe.checks[0].name == "chat"


def test_a_missing_file_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert "loopctl init" in caught.value.hint


@pytest.mark.parametrize("target", ["docker", "cloudrun", "url"])
def test_the_init_templates_and_the_repos_config_are_valid(tmp_path: Path, target: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(render_config(target, Service("my-service", "Dockerfile", 8000)))  # type: ignore[arg-type]
    config = load_config(path)
    assert config.project == "my-service"
    assert config.deploy is not None and config.deploy.target == target
    environ = {"DEMO_JWT_SECRET": "x" * 16}
    assert load_config(REPO / "config.yaml", environ=environ).deploy is not None


def test_iterate_with_a_bad_config_exits_2_with_one_message(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("project: demo\nbogus: 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "loopctl", "iterate", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "c.yaml:2: bogus: unknown key" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "iterations").exists()


def test_init_writes_once_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    first = subprocess.run(
        [sys.executable, "-m", "loopctl", "init", str(target)], capture_output=True, text=True, check=False
    )
    second = subprocess.run(
        [sys.executable, "-m", "loopctl", "init", str(target)], capture_output=True, text=True, check=False
    )
    assert first.returncode == 0 and "target: url" in target.read_text()
    assert second.returncode == 2 and "already exists" in second.stderr
