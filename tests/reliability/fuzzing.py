"""Hypothesis strategies for config.yaml documents: random shapes, mutated valid configs, raw text and bytes."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

# A valid config, every block used: mutations of it reach the deep validators, not just the top level.
VALID: dict[str, Any] = {
    "project": "fuzz",
    "iterations_dir": "iterations",
    "build": {"context": ".", "dockerfile": "Dockerfile", "image": "127.0.0.1:5000/agent", "args": {"A": "b"}},
    "push": {"auth": "none"},
    "deploy": {
        "target": "docker",
        "url": "http://127.0.0.1:8080",
        "docker": {"name": "agent", "port": 8080, "env": {"JWT_SECRET": {"env": "FUZZ_SECRET"}}, "command": ["x"]},
        "cloudrun": {"project": "p", "region": "r", "service": "s", "env": {"K": {"file": "/tmp/k"}}},
    },
    "probe": {
        "close_codes": {4001: "token_expired", 4002: {"category": "quota", "depth": 3, "hint": "h"}},
        "checks": [
            {"name": "health", "priority": 1, "http": {"path": "/health", "expect_status": 200, "timeout": 5}},
            {
                "name": "chat",
                "websocket": {
                    "path": "/ws",
                    "auth": {"type": "bearer", "token": {"jwt": {"secret": {"env": "FUZZ_SECRET"}, "ttl": 60}}},
                    "send": {"type": "user_message"},
                    "expect_events": ["a", "b"],
                    "headers": {"X-A": "b"},
                    "timeout": 10,
                },
            },
        ],
    },
    "suites": [{"name": "e2e", "priority": 2, "command": "true", "timeout": 60}],
    "report": {"emoji": False, "trend": 5},
}

KEYS = sorted(
    {
        *("project", "iterations_dir", "build", "push", "deploy", "probe", "suites", "report", "context"),
        *("dockerfile", "image", "args", "target", "platform", "auth", "url", "docker", "cloudrun", "name"),
        *("port", "host_port", "env", "ready_timeout", "command", "checks", "close_codes", "http", "websocket"),
        *("path", "expect_status", "timeout", "token", "type", "jwt", "secret", "claims", "ttl", "file", "send"),
        *("expect_events", "event_field", "hold", "headers", "ca_bundle", "priority", "impact", "emoji", "trend"),
        *("strategy", "region", "service", "ready_timeout", "api_endpoint", "category", "depth", "hint", "cwd"),
    }
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "~", "null", "0x1F", "1e400", "-.inf", ".nan", "2025-01-01", "yes", "on", "*", "&a"]),
    st.sampled_from(KEYS),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12), st.integers(min_value=-5, max_value=5000))
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, item in node.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_configs(draw: st.DrawFn) -> str:
    """The valid config with a few random paths replaced, deleted, or given unknown siblings."""
    document = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(document)[1:]))
        parent: Any = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "sibling"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(values)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=draw(st.booleans()))


@st.composite
def random_documents(draw: st.DrawFn) -> str:
    """A random YAML mapping (or not a mapping at all), dumped block or flow style."""
    document = draw(st.one_of(st.dictionaries(keys, values, max_size=6), values))
    return yaml.safe_dump(document, default_flow_style=draw(st.booleans()), allow_unicode=draw(st.booleans()))


@st.composite
def deep_documents(draw: st.DrawFn) -> str:
    """Nesting far past any real config, in flow or block style, under a key the model reads."""
    depth = draw(st.integers(min_value=100, max_value=1500))
    opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
    where = draw(st.sampled_from(["project", "probe", "unknown_key"]))
    return f"{where}: {opener * depth}1{closer * depth}\n"


@st.composite
def huge_values(draw: st.DrawFn) -> str:
    """Very long scalars: integers of thousands of digits, long strings, long lists."""
    digits = draw(st.integers(min_value=1000, max_value=6000))
    scalar = draw(st.sampled_from(["9" * digits, "x" * digits * 20, "0x" + "f" * digits, "1." + "5" * digits]))
    where = draw(st.sampled_from(["report: {trend: %s}", "iterations_dir: %s", "deploy: {target: docker, port: %s}"]))
    return "project: fuzz\n" + where % scalar + "\n"


yamlish_text = st.text(
    alphabet=st.sampled_from(list("abp:-[]{},'\"&*!|>#%@`? \n\t\r\\0123456789.~\x00\x85\u2028\ufeff")), max_size=200
)
raw_bytes = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda head, tail: head + b"\xff\xfe\xc3" + tail, st.binary(max_size=40), st.binary(max_size=40)),
    st.builds(lambda text: ("project: fuzz\nprobe: " + text).encode("utf-16"), st.text(max_size=20)),
)

_common: st.SearchStrategy[str | bytes] = st.one_of(mutated_configs(), random_documents(), yamlish_text, raw_bytes)
_rare: st.SearchStrategy[str | bytes] = st.one_of(deep_documents(), huge_values())
# One document in ten is deep or huge: each costs a hundred ordinary ones to parse.
documents: st.SearchStrategy[str | bytes] = st.integers(min_value=0, max_value=9).flatmap(
    lambda roll: _rare if roll == 0 else _common
)


def write_document(path: Path, document: str | bytes) -> None:
    if isinstance(document, bytes):
        path.write_bytes(document)
    else:
        path.write_text(document, encoding="utf-8", errors="surrogatepass")


_NOT_YAML = "not valid YAML"


def assert_points_at_the_problem(message: str, source: Path) -> None:
    """`FILE:LINE: dotted.path: what` for every bullet, or `FILE[:LINE]: not valid YAML: …`."""
    where = re.escape(str(source))
    if _NOT_YAML in message:
        assert re.match(rf"{where}(:\d+)?: {_NOT_YAML}", message), message
        return
    if message.startswith(f"{source}:1: the config must be a mapping"):
        return
    bullets = message.split("\n  - ")[1:] if "\n  - " in message else [message.removeprefix("invalid config: ")]
    for bullet in bullets:
        assert re.match(rf"{where}:\d+: .+?: .", bullet, re.DOTALL), bullet
