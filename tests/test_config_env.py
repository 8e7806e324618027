"""LOOPCTL_CONFIG names the config for every command that reads one; `-c` still wins over it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopctl.cli import command as command_of


def run(folder: Path, *args: str, config_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPCTL_CONFIG": config_env}
    return subprocess.run(
        [sys.executable, "-m", "loopctl", *args], capture_output=True, text=True, cwd=folder, env=env, check=False
    )


def test_doctor_reads_the_config_loopctl_config_names_and_c_wins(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.yaml").write_text("project: t\n")
    (tmp_path / "flag.yaml").write_text("project: t\n")
    by_env = json.loads(run(tmp_path, "doctor", "--json", config_env="elsewhere.yaml").stdout)["data"]
    assert by_env["findings"][0]["detail"].startswith("elsewhere.yaml is valid")
    by_flag = json.loads(run(tmp_path, "doctor", "--json", "-c", "flag.yaml", config_env="missing.yaml").stdout)["data"]
    assert by_flag["findings"][0]["detail"].startswith("flag.yaml is valid")


def test_report_reads_the_iterations_folder_of_the_config_loopctl_config_names(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.yaml").write_text("project: t\niterations_dir: kept-here\n")
    done = run(tmp_path, "report", config_env="elsewhere.yaml")
    assert done.returncode == 2 and "kept-here" in done.stderr


@pytest.mark.parametrize("name", ["iterate", "loop", "report", "history", "doctor", "clean"])
def test_every_command_that_reads_a_config_takes_it_from_loopctl_config(name: str) -> None:
    import typer.main

    command = typer.main.get_command_from_info(
        typer.models.CommandInfo(name=name, callback=command_of(name)),
        pretty_exceptions_short=True,
        rich_markup_mode=None,
    )
    option = next(param for param in command.params if param.name == "config")
    assert getattr(option, "envvar", None) == "LOOPCTL_CONFIG"
