"""The .dockerignore matcher agrees with the docker SDK's own `exclude_paths`, file for file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths as sdk_exclude_paths
from hypothesis import given, settings
from hypothesis import strategies as st

from loopctl.phases.dockerignore import exclude_paths

TREE = (
    "Dockerfile",
    "Dockerfile.dev",
    ".dockerignore",
    ".env",
    "README.md",
    "readme.MD",
    "app/main.py",
    "app/main.pyc",
    "app/__pycache__/main.cpython-311.pyc",
    "app/sub/deep/x.py",
    "app/sub/deep/keep.txt",
    "app/[weird].txt",
    "app/a?b.txt",
    "docs/index.md",
    "docs/img/logo.png",
    "node_modules/pkg/index.js",
    "node_modules/pkg/keep.js",
    "tests/test_a.py",
    "tests/data/sample.json",
    "build/out.bin",
    "foo.py",
    "space name.txt",
)

TRICKY = [
    [],
    ["*"],
    ["*", "!Dockerfile"],
    ["**/*.pyc"],
    ["**/__pycache__"],
    ["app/**"],
    ["app/**", "!app/sub/deep/keep.txt"],
    ["node_modules", "!node_modules/pkg/keep.js"],
    ["*.md"],
    ["*.MD"],
    ["README*"],
    ["docs/"],
    ["/docs"],
    ["./docs/img"],
    ["docs/../build"],
    ["../foo.py"],
    ["foo.py/"],
    ["."],
    ["app/*/deep"],
    ["app/?ain.py"],
    ["app/[a-m]*.py"],
    ["app/[!m]*"],
    ["app/[weird].txt"],
    ["app/[weird"],
    ["app/a\\?b.txt"],
    ["**"],
    ["**/"],
    ["tests", "!tests/data", "tests/data/*.json"],
    ["*", "!app/sub", "!Dockerfile.dev"],
    ["Dockerfile"],
    [".dockerignore", ".env"],
    ["  build  ", "!"],
    ["space name.txt"],
    ["!app/main.py", "app"],
    ["app", "!app/main.py"],
    ["**/deep/**", "!**/keep.txt"],
    ["[^a]*"],
]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("context")
    for relative in TREE:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(relative)
    os.symlink("app", root / "link-to-app")
    return root


@pytest.mark.parametrize("patterns", TRICKY, ids=lambda patterns: repr(patterns))
@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.dev"])
def test_same_files_as_the_docker_sdk(context: Path, patterns: list[str], dockerfile: str) -> None:
    expected = sdk_exclude_paths(str(context), list(patterns), dockerfile=dockerfile)
    assert exclude_paths(str(context), patterns, dockerfile=dockerfile) == expected


_PART = st.sampled_from(["app", "docs", "sub", "deep", "*", "**", "?", "[a-m]*", "*.py", "..", ".", "", "Main.PY"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda negate, parts: ("!" if negate else "") + "/".join(parts),
            st.booleans(),
            st.lists(_PART, min_size=1, max_size=4),
        ),
        max_size=5,
    )
)
def test_generated_patterns_agree_with_the_docker_sdk(context: Path, patterns: list[str]) -> None:
    assert exclude_paths(str(context), patterns) == sdk_exclude_paths(str(context), list(patterns))


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "pattern",
    ["*a" * 40 + "b", "/".join(["**"] * 24) + "/x", "**/" + "*a*" * 30 + "/**/b"],
    ids=["stars", "deep-globstars", "mixed"],
)
def test_patterns_that_backtrack_for_hours_are_matched_in_linear_time(tmp_path: Path, pattern: str) -> None:
    path = tmp_path / ("a" * 60) / ("a/" * 20) / ("a" * 100)
    path.parent.mkdir(parents=True)
    path.write_text("x")
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    kept = exclude_paths(str(tmp_path), [pattern])
    assert str(path.relative_to(tmp_path)) in kept and "Dockerfile" in kept


def test_literal_characters_are_escaped_alike_for_both_engines(tmp_path: Path) -> None:
    for name in ("a b#c&d~e.txt", "x-y+z(1).md", "tab\there.txt", "é.txt"):
        (tmp_path / name).write_text(name)
    patterns = ["a b#c&d~e.txt", "*(1).md", "tab\there.*", "é.*", "**/*(1)*", "*a*b*#*"]
    for pattern in patterns:
        assert exclude_paths(str(tmp_path), [pattern]) == sdk_exclude_paths(str(tmp_path), [pattern]), pattern
