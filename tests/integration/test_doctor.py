"""`loopctl doctor` against the real engine and registries: one line per need, the fix when it is missing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.doctor import run_doctor
from tests.support.realparts import start_registry

CONFIG = """\
project: t
build: {{context: ., image: {image}}}
push: {{auth: {auth}}}
"""


def doctor(folder: Path, **env: str) -> tuple[int, dict[str, dict[str, object]], str]:
    return run_doctor(folder / "config.yaml", **env)


def test_everything_reachable_is_all_green(tmp_path: Path) -> None:
    with start_registry(tmp_path / "open") as registry:
        (tmp_path / "config.yaml").write_text(CONFIG.format(image=f"{registry.address}/app", auth="none"))
        (tmp_path / ".dockerignore").write_text("iterations/\n")
        code, findings, stderr = doctor(tmp_path)
    assert code == 0, stderr
    assert set(findings) == {"config", "engine", "leftovers", "registry", "records"}
    assert str(findings["engine"]["detail"]).startswith("Docker Engine ")
    assert stderr.count("✅") == 5


def test_records_that_a_plain_docker_build_would_copy_into_the_image_are_a_warning(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(image="127.0.0.1:1/app", auth="none"))
    (tmp_path / ".dockerignore").write_text(".git\n")
    _, findings, stderr = doctor(tmp_path)
    records = findings["records"]
    assert records["warning"] is True and records["ok"] is True
    assert "add `iterations/` to" in str(records["fix"])
    assert "⚠️ records: iterations/ is inside build.context" in stderr


def test_a_registry_that_wants_credentials_without_any_is_red_with_the_fix(tmp_path: Path) -> None:
    with start_registry(tmp_path / "locked", htpasswd={"ci": "a-password"}) as registry:
        (tmp_path / "config.yaml").write_text(CONFIG.format(image=f"{registry.address}/app", auth="docker-config"))
        code, findings, stderr = doctor(tmp_path, DOCKER_CONFIG=str(tmp_path / "empty-docker-config"))
    assert code == 1
    assert findings["registry"]["ok"] is False and "docker login" in str(findings["registry"]["fix"])
    assert "❌ registry" in stderr


def test_a_registry_that_wants_credentials_the_docker_config_holds_is_green(tmp_path: Path) -> None:
    with start_registry(tmp_path / "locked", htpasswd={"ci": "a-password"}) as registry:
        (tmp_path / "config.yaml").write_text(CONFIG.format(image=f"{registry.address}/app", auth="docker-config"))
        (tmp_path / "docker").mkdir()
        (tmp_path / "docker" / "config.json").write_text(
            json.dumps({"auths": {registry.address: {"auth": "Y2k6YS1wYXNzd29yZA=="}}})
        )
        _, findings, _ = doctor(tmp_path, DOCKER_CONFIG=str(tmp_path / "docker"))
    assert findings["registry"]["ok"] is True
    assert (
        findings["registry"]["detail"] == f"{registry.address} wants auth: credentials for it are in the docker config"
    )


def test_a_docker_hub_name_with_a_user_is_checked_against_docker_hub(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(image="someuser/app", auth="none"))
    _, findings, _ = doctor(tmp_path)
    assert "docker.io" in str(findings["registry"]["detail"])  # not a registry host called `someuser`
    assert "someuser" not in str(findings["registry"]["detail"])


def test_a_broken_login_in_the_docker_config_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(image="127.0.0.1:1/app", auth="docker-config"))
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {"127.0.0.1:1": {"auth": "x"}}}))
    code, findings, stderr = doctor(tmp_path, DOCKER_CONFIG=str(tmp_path / "docker"))
    assert code == 1 and "Traceback" not in stderr
    engine = findings["engine"]
    assert engine["ok"] is False and str(tmp_path / "docker" / "config.json") in str(engine["detail"])
    assert "docker login" in str(engine["fix"])


def test_no_engine_and_no_registry_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(image="127.0.0.1:1/app", auth="none"))
    code, findings, _ = doctor(tmp_path, DOCKER_HOST="tcp://127.0.0.1:1")
    assert code == 1
    assert findings["engine"]["ok"] is False and "tcp://127.0.0.1:1" in str(findings["engine"]["detail"])
    assert findings["registry"]["ok"] is False
    assert findings["leftovers"] == {  # said once, by the engine finding
        "name": "leftovers",
        "ok": True,
        "detail": "not looked at: the engine does not answer",
        "fix": "",
        "warning": False,
    }


def test_a_bad_config_is_the_only_finding(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("project: t\nbogus: 1\n")
    code, findings, _ = doctor(tmp_path)
    assert code == 1 and list(findings) == ["config"]
    assert "bogus: unknown key" in str(findings["config"]["detail"])
