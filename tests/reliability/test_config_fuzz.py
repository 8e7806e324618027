"""Random config.yaml documents: never anything but a UsageError that points at the file, line and path."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from loopctl.config import load_config
from loopctl.errors import UsageError
from tests.reliability.fuzzing import assert_points_at_the_problem, documents, write_document
from tests.reliability.harness import EXIT_USAGE, LOOPCTL, loopctl_env

_names = itertools.count()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def write(folder: Path, document: str | bytes) -> Path:
    """The document in a fresh file: each example gets its own name, so a failure can be read back."""
    path = folder / f"config-{next(_names)}.yaml"
    write_document(path, document)
    return path


def load(folder: Path, document: str | bytes) -> tuple[Path, UsageError | None]:
    """Load the document with no environment; the UsageError if any."""
    path = write(folder, document)
    try:
        load_config(path, environ={})
    except UsageError as err:
        return path, err
    return path, None


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(documents)
def test_any_document_loads_or_is_a_usage_error_naming_file_line_and_path(scratch: Path, document: str | bytes) -> None:
    path, error = load(scratch, document)
    if error is not None:
        assert_points_at_the_problem(error.message, path)
        assert error.hint


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # each example is a process: no shrinking
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(documents)
def test_the_cli_exits_2_without_a_traceback_on_a_bad_config(scratch: Path, document: str | bytes) -> None:
    path = write(scratch, document)
    try:
        load_config(path, environ={})
    except Exception:  # a UsageError, or the bug the in-process test reports: the CLI must still exit 2
        pass
    else:
        return  # a valid config would start an iteration: not this test's business
    done = subprocess.run(
        [*LOOPCTL, "iterate", "--ci", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=20,
        env=loopctl_env(),
        cwd=scratch,
        check=False,
    )
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: "), done.stderr
