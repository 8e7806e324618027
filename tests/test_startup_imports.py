"""Quick commands import only what they need: no docker SDK, no Google client, no pydantic, no rich."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loopctl.records.store import Store
from tests.support.records import http_check, make_record

HEAVY = (
    "docker",
    "requests",
    "google.cloud",
    "google.cloud.run_v2",
    "pydantic",
    "rich",
    "websockets",
    "watchfiles",
    "mcp",
    "anyio",
)
# Runs the CLI as `python -m loopctl` does, then lists which heavy modules ended up in sys.modules.
# Quick commands leave through os._exit (no teardown): here it becomes sys.exit, so the listing still runs.
PROBE = """
import json, os, runpy, sys
os._exit = sys.exit
sys.argv = ["loopctl", *sys.argv[1:]]
try:
    runpy.run_module("loopctl", run_name="__main__")
except SystemExit as exit:
    code = exit.code
heavy = [name for name in HEAVY if name in sys.modules]
sys.__stdout__.write("\\nIMPORTED " + json.dumps({"heavy": heavy, "code": code}) + "\\n")
""".replace("HEAVY", repr(HEAVY))


def imported(cwd: Path, *args: str) -> tuple[list[str], int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("IMPORTED "))
    found = json.loads(line.removeprefix("IMPORTED "))
    return found["heavy"], found["code"]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["classify", "1011"],
        ["classify", "1011", "--json"],
        ["iterate", "--help"],
        ["loop", "--help"],
        ["mcp", "--help"],
    ],
    ids=" ".join,
)
def test_help_and_classify_import_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    heavy, code = imported(tmp_path, *args)
    assert heavy == [] and code in (0, None)


@pytest.fixture
def folder_with_history(tmp_path: Path) -> Path:
    store = Store(tmp_path / "runs")
    for number in range(1, 6):
        store.save(make_record(number, "failed", checks=[http_check()]), None)
    (tmp_path / "config.yaml").write_text("project: demo\niterations_dir: runs\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("args", [["history"], ["history", "--json", "--last", "3"]], ids=" ".join)
def test_history_from_its_cache_imports_nothing_heavy(folder_with_history: Path, args: list[str]) -> None:
    heavy, _ = imported(folder_with_history, *args)  # the first run parses the records and fills the cache
    assert "docker" not in heavy and "google.cloud" not in heavy
    heavy, code = imported(folder_with_history, *args)
    assert heavy == [] and code in (0, None)


def test_the_app_built_for_one_command_still_knows_them_all(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "loopctl", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )

    listing = run("--help")
    for name in ("init", "iterate", "loop", "probe", "report", "history", "classify", "doctor", "mcp"):
        assert f"  {name} " in listing.stdout, name
    assert "Explain a close code" in run("classify", "--help").stdout
    mistyped = run("histroy")
    assert mistyped.returncode == 2 and "No such command 'histroy'" in mistyped.stderr
    assert run("--version").stdout.startswith("loopctl ")


ATEXIT_PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("TEARDOWN\\n"))
sys.argv = ["loopctl", *sys.argv[1:]]
from loopctl.cli import main
main()
"""


def test_quick_commands_flush_and_skip_teardown_and_the_others_keep_it(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", ATEXIT_PROBE, *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
        )

    quick = run("classify", "1011", "--json")
    assert quick.returncode == 0 and json.loads(quick.stdout)["data"]["category"] == "internal_error"  # flushed in full
    assert "TEARDOWN" not in quick.stderr
    refused = run("classify", "99999")
    assert refused.returncode == 2 and "TEARDOWN" not in refused.stderr
    (tmp_path / "config.yaml").write_text("project: demo\n", encoding="utf-8")
    slow = run("report")  # not on the list: its writers are not all known to be closed when it returns
    assert "TEARDOWN" in slow.stderr
