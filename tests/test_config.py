"""config.yaml errors: each names the dotted path and the line, and nothing is a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loopctl.config import load_config
from loopctl.errors import ConfigDeprecation, UsageError
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
        "c.yaml:3: deploy.target: Input should be 'url', 'docker', 'cloudrun' or 'compose'",
    ),
    ("project: demo\ndeploy:\n  target: url\n", "c.yaml:2: deploy: target 'url' needs deploy.url"),
    ("project: demo\ndeploy:\n  target: docker\n", "deploy: target 'docker' needs a deploy.docker block"),
    (
        "project: demo\nprobe:\n  checks:\n    - name: a\n      priority: 7\n      http: {path: /}\n",
        "c.yaml:5: probe.checks[0].priority: Input should be less than or equal to 3",
    ),
    (
        "project: demo\nprobe:\n  checks:\n    - name: a\n      http: {path: /}\n      websocket: {path: /ws}\n",
        "probe.checks[0]: a check needs exactly one of 'http' or 'websocket'",
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
        "c.yaml:3: probe.close_codes: application close codes are 4000–4999, not 1008",
    ),
    (
        "project: demo\nprobe:\n  checks:\n    - name: a\n      http: {}\n    - name: a\n      http: {}\n",
        "probe.checks: check name 'a' is used twice",
    ),
    ("project: demo\nsuites:\n  - name: s\n    priority: 1\n", "c.yaml:3: suites[0].command: Field required"),
    (
        "project: demo\nsuites:\n  - {name: e2e, command: a}\n  - {name: e2e, command: b}\n",
        "c.yaml:2: suites: suite name 'e2e' is used twice",
    ),
    (
        "project: demo\nsuites:\n  - {name: 'e2e p1', command: a}\n  - {name: e2e/p1, command: b}\n",
        "suite names 'e2e p1' and 'e2e/p1' would share the log file NNNN.suite-e2e-p1.log",
    ),
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


@pytest.mark.parametrize(
    ("key", "shown"),
    [("bogus", "c.yaml:2: bogus: unknown key"), ("'[/]'", "c.yaml:2: [/]: unknown key")],
    ids=["plain", "rich-markup"],
)
def test_iterate_with_a_bad_config_exits_2_with_one_message(tmp_path: Path, key: str, shown: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"project: demo\n{key}: 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "loopctl", "iterate", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert shown in done.stderr  # a key that looks like Rich markup is printed as written, not parsed
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


def test_a_secret_file_is_read_next_to_the_config_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "token").write_text("token-next-to-the-config\n")
    (folder / "c.yaml").write_text(GOOD.replace("{env: TOKEN}", "{file: token}"))
    monkeypatch.chdir(tmp_path)
    config = load_config(folder / "c.yaml", environ={})
    auth = config.probe.checks[0].websocket.auth  # type: ignore[union-attr]
    assert auth is not None and auth.token.resolve().reveal() == "token-next-to-the-config"
    absolute = tmp_path / "elsewhere"
    absolute.write_text("absolute-token\n")
    (folder / "c.yaml").write_text(GOOD.replace("{env: TOKEN}", f"{{file: '{absolute}'}}"))
    auth = load_config(folder / "c.yaml", environ={}).probe.checks[0].websocket.auth  # type: ignore[union-attr]
    assert auth is not None and auth.token.resolve().reveal() == "absolute-token"


def test_validator_messages_carry_no_pydantic_prefix(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("project: demo\ndeploy:\n  target: url\n")
    with pytest.raises(UsageError) as caught:
        load_config(path, environ={})
    assert "Value error" not in str(caught.value)
    assert "c.yaml:2: deploy: target 'url' needs deploy.url" in str(caught.value)


def test_problems_are_listed_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    # pydantic reports fields in model order (deploy before report); the user reads the file top to bottom.
    path.write_text("project: demo\nreport: {trend: 1}\nzzz: 1\ndeploy: {target: moon}\n")
    with pytest.raises(UsageError) as caught:
        load_config(path, environ={})
    lines = [line for line in str(caught.value).splitlines() if line.startswith("  - ")]
    numbers = [int(line.split("c.yaml:", 1)[1].split(":", 1)[0]) for line in lines]
    assert len(numbers) == 3
    assert numbers == sorted(numbers)


def test_every_missing_env_var_is_named_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        GOOD
        + "    - name: other\n      websocket:\n        path: /ws\n        auth: {type: bearer, token: {env: OTHER}}\n"
    )
    with pytest.raises(UsageError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "2 environment variables are not set" in message
    assert "c.yaml:8:" in message and "TOKEN" in message
    assert "c.yaml:12:" in message and "OTHER" in message
    assert message.index("TOKEN") < message.index("OTHER")
    assert "export TOKEN=... OTHER=..." in caught.value.hint


def test_http_checks_refuse_subprotocol_auth(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "project: demo\ndeploy: {target: url, url: 'http://127.0.0.1:1'}\nprobe:\n  checks:\n    - name: h\n"
        "      http: {path: /h, auth: {type: subprotocol, token: {env: T}}}\n"
    )
    with pytest.raises(UsageError) as caught:
        load_config(path, environ={"T": "x"})
    assert "c.yaml:6: probe.checks[0].http.auth.type: Input should be 'bearer' or 'query'" in str(caught.value)


def test_old_timeout_names_are_read_with_one_warning_line_each(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "project: demo\n"
        "build:\n  image: europe-docker.pkg.dev/p/r/app\n  builder: cloudbuild\n"
        "  cloudbuild: {project: p, timeout_s: 900}\n"
        "deploy:\n  target: cloudrun\n"
        "  cloudrun: {project: p, region: europe-west1, service: chat, deadline_s: 120, timeout_s: 3600}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "loopctl", "report", "-c", str(path)], capture_output=True, text=True, timeout=60
    )
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    later = ": the old name is read until the next release"
    assert warned == [
        f"warning: build.cloudbuild.timeout_s is now build.cloudbuild.timeout{later}",
        f"warning: deploy.cloudrun.timeout_s is now deploy.cloudrun.request_timeout{later}",
        f"warning: deploy.cloudrun.deadline_s is now deploy.cloudrun.ready_timeout{later}",
    ]
    assert "ConfigDeprecation" not in done.stderr and "Traceback" not in done.stderr
    with pytest.warns(ConfigDeprecation):
        config = load_config(path, check_env=False)
    assert config.build is not None and config.build.cloudbuild is not None and config.build.cloudbuild.timeout == 900
    assert config.deploy is not None and config.deploy.cloudrun is not None
    assert (config.deploy.cloudrun.ready_timeout, config.deploy.cloudrun.request_timeout) == (120, 3600)
