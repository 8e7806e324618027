"""The config loader: one pass, libyaml and the pure-Python parser agree, and a key written twice is an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loopctl.config import Config, load_config
from loopctl.errors import UsageError
from loopctl.init_template import Service, render_config
from loopctl.yaml_lines import SAFE_LOADER, parse_yaml

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path("c.yaml")

DUPLICATES = [
    ("project: a\nprobe: {}\nproject: b\n", "c.yaml:3: project: duplicate key (first at line 1)"),
    (
        "project: a\nprobe:\n  checks:\n    - name: x\n      http: {path: /}\nprobe:\n  close_codes: {}\n",
        "c.yaml:6: probe: duplicate key (first at line 2)",
    ),
    (
        "project: a\nprobe:\n  checks:\n    - name: x\n      http:\n        path: /\n        path: /y\n",
        "c.yaml:7: probe.checks[0].http.path: duplicate key (first at line 6)",
    ),
    ("project: a\ndeploy: {target: url, target: docker}\n", "c.yaml:2: deploy.target: duplicate key (first at line 2)"),
    ("project: a\nprobe:\n  close_codes: {4001: x, 4001: y}\n", "probe.close_codes.4001: duplicate key"),
]

# Exercises what the two parsers could disagree on: anchors, merges, block scalars, flow style, odd keys.
TRICKY = """\
project: "tricky: quoted"
base: &base {timeout: 5, hold: 0.5}
probe:
  close_codes:
    4001: token_expired
    "4002":
      category: quota
      depth: 3
      hint: >
        folded
        text
  checks:
    - name: a
      websocket:
        <<: *base
        path: /ws
        send: |
          literal
            block
        expect_events: [x, y]
    - {name: b, http: {path: /health, expect_status: 200}}
other: [1, 2.5, true, null, ~, 2026-01-01, 0x1f]
"""


@pytest.mark.parametrize(("text", "expected"), DUPLICATES)
@pytest.mark.parametrize("loader", [yaml.SafeLoader, SAFE_LOADER], ids=["pure", "default"])
def test_a_key_written_twice_names_both_lines(text: str, expected: str, loader: type) -> None:
    with pytest.raises(UsageError) as caught:
        parse_yaml(text, SOURCE, loader=loader)
    assert expected in caught.value.message


def test_a_merge_key_may_be_overridden() -> None:
    data, _ = parse_yaml("base: &b {a: 1, c: 3}\nuse:\n  <<: *b\n  a: 2\n", SOURCE)
    assert data["use"] == {"a": 2, "c": 3}


def test_the_default_loader_is_libyaml() -> None:
    assert yaml.__with_libyaml__, "PyYAML without libyaml: configs parse about ten times slower"
    assert SAFE_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize(
    "text",
    [
        TRICKY,
        render_config("docker", Service("my-service", "Dockerfile", 8000)),
        render_config("cloudrun", Service("my-service", "Dockerfile", 8000)),
        (REPO / "config.yaml").read_text(encoding="utf-8"),
    ],
    ids=["tricky", "init-docker", "init-cloudrun", "repo-config"],
)
def test_libyaml_and_the_pure_parser_give_the_same_values_and_lines(text: str) -> None:
    pure_data, pure_lines = parse_yaml(text, SOURCE, loader=yaml.SafeLoader)
    fast_data, fast_lines = parse_yaml(text, SOURCE, loader=yaml.CSafeLoader)
    assert fast_data == pure_data
    assert vars(fast_lines) == vars(pure_lines)
    assert len(vars(pure_lines)["_lines"]) > 10


def test_libyaml_and_the_pure_parser_build_the_same_config(tmp_path: Path) -> None:
    pure, _ = parse_yaml((REPO / "config.yaml").read_text(encoding="utf-8"), SOURCE, loader=yaml.SafeLoader)
    fast, _ = parse_yaml((REPO / "config.yaml").read_text(encoding="utf-8"), SOURCE, loader=yaml.CSafeLoader)
    assert Config.model_validate(fast) == Config.model_validate(pure)


def test_lines_point_at_the_key() -> None:
    _, lines = parse_yaml(TRICKY, SOURCE)
    assert lines.line_for(("probe", "checks", 1, "http", "path")) == 21
    assert lines.line_for(("probe", "close_codes", 4002, "depth")) == 8
    assert lines.line_for(("probe", "checks", 0, "websocket", "send")) == 17


def test_a_duplicate_key_exits_2_with_one_message(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("project: a\nprobe:\n  checks: []\nprobe:\n  close_codes: {}\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"config.yaml:4: probe: duplicate key \(first at line 2\)"):
        load_config(config)
    done = subprocess.run(
        [sys.executable, "-m", "loopctl", "history", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "config.yaml:4: probe: duplicate key (first at line 2)" in done.stderr
    assert "Traceback" not in done.stderr


ODD_SHAPES = [
    TRICKY,
    "a: &x [1, {b: 2}]\nc: *x\nd: {<<: {e: 1}, f: 2}\n",
    "? [1, 2]\n: unhashable\n",
    "t: !!str 12\nu: !!int '7'\nv: !!float 1\nw: !!binary aGVsbG8=\nx: !!set {a, b}\ny: !!omap [{a: 1}, {b: 2}]\n",
    "n: [.inf, -.Inf, .nan, 0o17, 0x1f, 1_000, 1:30, 2001-12-14t21:59:43.10-05:00, yes, Off, ~, '']\n",
    "- - - deep\n  - [a, {b: [c, {d: e}]}]\n",
    "plain\n",
    "",
]


@pytest.mark.parametrize("text", ODD_SHAPES)
def test_values_are_the_ones_safe_load_gives(text: str) -> None:
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        with pytest.raises(UsageError, match="not valid YAML"):
            parse_yaml(text, SOURCE)
        return
    data, _ = parse_yaml(text, SOURCE)
    if expected != expected:  # nan
        return
    assert repr(data) == repr(expected)
    assert type(data) is type(expected)
