"""Hostile config files a fuzzer finds only by luck: deep nesting, giant numbers, bad bytes, alias bombs."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from loopctl.config import load_config
from loopctl.errors import UsageError
from tests.reliability.fuzzing import assert_points_at_the_problem, write_document
from tests.reliability.harness import EXIT_USAGE, LOOPCTL, loopctl_env


def alias_bomb(levels: int) -> str:
    """A dozen lines that expand to 9**levels scalars: each anchor lists the previous one nine times."""
    lines = ["project: bomb", "l0: &l0 [a, a, a, a, a, a, a, a, a]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE: dict[str, str | bytes] = {
    "deep-flow-sequence": "project: x\nprobe: {checks: [{name: a, websocket: {send: "
    + "[" * 3000
    + "]" * 3000
    + "}}]}\n",
    "deep-flow-mapping": "project: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "deep-block-sequence": "project: x\nsuites:\n" + "".join("  " * depth + "- \n" for depth in range(1, 1500)),
    "integer-of-5000-digits": "project: x\nreport: {trend: " + "9" * 5000 + "}\n",
    "hex-integer-of-5000-digits": "project: x\ndeploy: {target: docker, docker: {name: a, port: 0x"
    + "f" * 5000
    + "}}\n",
    "latin-1-byte": b"project: caf\xe9\n",
    "utf-16": "project: x\n".encode("utf-16"),
    "null-key": "project: x\n~: 2\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_config_is_a_usage_error_naming_the_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / "config.yaml"
    write_document(path, HOSTILE[name])
    with pytest.raises(UsageError) as caught:
        load_config(path, environ={})
    message = caught.value.message
    assert_points_at_the_problem(message, path)
    assert re.search(rf"{re.escape(str(path))}:\d+: ", message), message
    # The words are the user's, not pydantic's or Python's internals.
    for internal in ("[key]", "expected one of None", "Error", "sys.set_int_max_str_digits"):
        assert internal not in message, message


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_cli_exits_2_on_a_hostile_config(tmp_path: Path, name: str) -> None:
    path = tmp_path / "config.yaml"
    write_document(path, HOSTILE[name])
    done = run_iterate(tmp_path, path, timeout=20)
    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: "), done.stderr[-2000:]


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(alias_bomb(8))  # 9**8 = 43 million scalars once expanded
    began = time.monotonic()
    try:
        done = run_iterate(tmp_path, path, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"loopctl iterate was still reading a {path.stat().st_size}-byte config after 15 s")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert time.monotonic() - began < 15


# The user's own key, in the user's words: pydantic's location tags ('[key]', union member names) must not
# swallow keys that merely start with a capital letter, such as a typo or an environment variable's name.
NAMED = {
    "capitalised-typo": ("project: x\nBuild: {image: a/b}\n", r"config\.yaml:2: Build: unknown key"),
    "capitalised-nested-typo": (
        "project: x\nprobe:\n  checks:\n    - name: a\n      http: {Path: /x}\n",
        r"config\.yaml:5: probe\.checks\[0\]\.http\.Path: unknown key",
    ),
    "bad-secret-under-an-env-name": (
        "project: x\ndeploy: {target: docker, docker: {name: a, env: {JWT_SECRET: {Env: X}}}}\n",
        r"config\.yaml:2: deploy\.docker\.env\.JWT_SECRET: .*\{env: NAME\}",
    ),
    "non-integer-close-code": (
        "project: x\nprobe: {close_codes: {abc: token_expired}}\n",
        r"config\.yaml:2: probe\.close_codes\.abc: .*integer",
    ),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_a_config_error_names_the_users_key(tmp_path: Path, name: str) -> None:
    document, expected = NAMED[name]
    path = tmp_path / "config.yaml"
    path.write_text(document)
    with pytest.raises(UsageError) as caught:
        load_config(path, environ={})
    assert re.search(expected, caught.value.message), caught.value.message


def run_iterate(folder: Path, config: Path, *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOOPCTL, "iterate", "--ci", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=loopctl_env(),
        cwd=folder,
        check=False,
    )
