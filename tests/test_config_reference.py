"""docs/configuration.md names every key the config model accepts, so a new key cannot land undocumented."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from loopctl.config import Config

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
# Models that are a value's shape (a secret reference, an application code), documented in their parent's row.
_LEAVES = {"EnvRef", "FileRef", "CommandRef", "JwtRef", "SecretManagerRef", "AppCodeConfig"}


def _models(annotation: object) -> tuple[list[type[BaseModel]], bool]:
    """The config models an annotation holds, and whether it is a list of them."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found = [_models(arg) for arg in typing.get_args(annotation)]
        return [model for models, _ in found for model in models], any(is_list for _, is_list in found)
    if origin is list:
        return _models(typing.get_args(annotation)[0])[0], True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation.__name__ not in _LEAVES:
        return [annotation], False
    return [], False


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf key (`probe.checks[].name`), as the reference writes them."""
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        models, is_list = _models(field.annotation)
        if len(models) == 1:  # a block: documented through its keys
            yield from config_keys(models[0], f"{prefix}{name}{'[]' if is_list else ''}.")
        else:
            yield f"{prefix}{name}"


def documented_rows() -> dict[str, str]:
    """Reference rows: each key cell's dotted paths (`a.b` / `.c` means a.b and a.c) → the row's meaning."""
    text = REFERENCE.read_text()
    table = text.split("## config.yaml reference", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        paths = re.findall(r"`([^`]+)`", cells[0])
        first = paths[0]
        for path in paths:
            full = first.rsplit(".", 1)[0] + path if path.startswith(".") else path
            rows[full] = cells[-1]
    return rows


def test_every_config_key_is_in_the_readme_reference() -> None:
    rows = documented_rows()
    missing = []
    for key in config_keys():
        parent, _, name = key.rpartition(".")
        in_parent_row = parent in rows and re.search(rf"\b{re.escape(name)}\b", rows[parent])
        if key not in rows and not in_parent_row:
            missing.append(key)
    assert missing == []


def test_the_walker_sees_nested_and_listed_keys() -> None:
    keys = set(config_keys())
    assert {"probe.checks[].name", "probe.checks[].websocket.auth.type", "suites[].command", "report.emoji"} <= keys
    assert "probe.checks[]" not in keys and "probe" not in keys  # blocks are documented through their keys
    assert "base_dir" not in keys and "config_file" not in keys
