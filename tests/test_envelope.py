"""Every `--json` command prints exactly one envelope, on success and on each kind of failure, parser refusals too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopctl import __version__
from loopctl.records.store import Store
from tests.support.health import health_service
from tests.support.records import story

REPO = Path(__file__).resolve().parents[1]
KEYS = {"loopctl", "schema", "command", "status", "exit_code", "data", "errors"}


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with health_service() as url:
        yield url


def config(folder: Path, url: str, path: str = "/health") -> str:
    checks = f"probe: {{checks: [{{name: health, http: {{path: {path}, expect_status: 200}}}}]}}\n"
    (folder / "config.yaml").write_text(f"project: envelope\ndeploy: {{target: url, url: '{url}'}}\n{checks}")
    return str(folder / "config.yaml")


def loopctl(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "GITHUB_STEP_SUMMARY")}
    return subprocess.run(
        [sys.executable, "-m", "loopctl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
        env={**env, "PYTHONPATH": str(REPO)},
        check=False,
    )


# (name, arguments, expected status, expected exit code); {config}, {bad}, {url} are filled in per test.
CASES = [
    ("classify ok", ["classify", "1011", "--json"], "ok", 0),
    ("classify refused", ["classify", "99999", "--json"], "error", 2),
    ("classify parser", ["classify", "abc", "--json"], "error", 2),
    ("history ok", ["history", "--json", "-c", "{config}"], "ok", 0),
    ("history parser", ["history", "--last", "0", "--json"], "error", 2),
    ("report ok", ["report", "3", "--format", "json", "-c", "{config}"], "ok", 0),
    ("report missing", ["report", "99", "--format", "json", "-c", "{config}"], "error", 2),
    ("report parser", ["report", "abc", "--format", "json"], "error", 2),
    ("probe ok", ["probe", "{url}/health", "--json"], "ok", 0),
    ("probe failed", ["probe", "{url}/nothing", "--json"], "failed", 1),
    ("probe refused", ["probe", "{url}/", "--header", "no-colon", "--json"], "error", 2),
    ("probe parser", ["probe", "ws://x", "--timeout", "-1", "--json"], "error", 2),
    ("iterate ok", ["iterate", "-c", "{config}", "--ci", "--json"], "ok", 0),
    ("iterate failed", ["iterate", "-c", "{bad}", "--ci", "--json"], "failed", 1),
    ("iterate config", ["iterate", "-c", "missing.yaml", "--json"], "error", 2),
    ("iterate skip", ["iterate", "-c", "{config}", "--skip", "bogus", "--json"], "error", 2),
    ("iterate parser", ["iterate", "--fail-on", "bogus", "--json"], "error", 2),
    ("doctor ok", ["doctor", "-c", "{config}", "--json"], "ok", 0),
    ("doctor failed", ["doctor", "-c", "missing.yaml", "--json"], "failed", 1),
    ("doctor parser", ["doctor", "--bogus", "--json"], "error", 2),
]


@pytest.mark.parametrize(("name", "args", "status", "code"), CASES, ids=[case[0] for case in CASES])
def test_each_json_command_prints_one_envelope(
    tmp_path: Path, service: str, name: str, args: list[str], status: str, code: int
) -> None:
    good = tmp_path / "good"
    bad = tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    store = Store(good / "iterations")
    for record in story()[:3]:
        store.save(record, f"# iteration {record.number}\n")
    filled = {"config": config(good, service), "bad": config(bad, service, "/nothing"), "url": service}
    done = loopctl(tmp_path, *(arg.format(**filled) for arg in args))

    lines = done.stdout.splitlines()
    assert len(lines) == 1, (done.stdout, done.stderr)
    document = json.loads(lines[0])
    assert set(document) == KEYS
    assert (document["loopctl"], document["schema"], document["command"]) == (__version__, 1, args[0])
    assert (document["status"], document["exit_code"], done.returncode) == (status, code, code), done.stderr
    if status == "error":
        assert document["data"] is None and document["errors"][0]["kind"] and document["errors"][0]["message"]
        assert document["errors"][0]["message"] in done.stderr  # the same words, once for people, once for machines
    else:
        assert document["errors"] == [] and document["data"] is not None
    assert "Traceback" not in done.stderr
