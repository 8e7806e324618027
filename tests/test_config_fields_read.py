"""Every config field changes something: loopctl reads it outside the config model, or it is reserved with a reason."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from loopctl.config import Config
from tests.test_config_reference import _models

PACKAGE = Path(__file__).resolve().parents[1] / "loopctl"
# Modules that declare and validate the config: reading a field there is not using it.
MODEL_MODULES = {PACKAGE / "config" / "__init__.py", PACKAGE / "config" / "steps.py"}
# `Model.field` read other than as an attribute outside the model modules, each with where and how.
RESERVED: dict[str, str] = {}


@dataclass(frozen=True)
class ConfigField:
    model: str  # the model's class name: `ReportConfig`
    name: str  # the field: `emoji`
    parents: frozenset[str]  # the fields that hold this model: `report`

    def __str__(self) -> str:
        return f"{self.model}.{self.name}"


@dataclass
class Reads:
    """What one module reads: attribute names, `.parent.name` pairs, and every name it mentions (types, imports)."""

    attributes: set[str] = field(default_factory=set)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    aliases: dict[str, set[str]] = field(default_factory=dict)  # `ws = item.websocket`: ws → {websocket, item}

    def reads(self, config_field: ConfigField) -> bool:
        if config_field.name not in self.attributes:
            return False
        if config_field.model in self.names:
            return True
        holders = {name for name, held in self.aliases.items() if held & config_field.parents} | config_field.parents
        return any((holder, config_field.name) in self.pairs for holder in holders)


def config_fields() -> list[ConfigField]:
    """Every field of every model reachable from `Config`, with the fields that hold its model."""
    parents: dict[type[BaseModel], set[str]] = {Config: set()}
    queue: list[type[BaseModel]] = [Config]
    while queue:
        model = queue.pop()
        for name, info in model.model_fields.items():
            for inner in _models(info.annotation)[0]:
                if inner not in parents:
                    parents[inner] = set()
                    queue.append(inner)
                parents[inner].add(name)
    return [
        ConfigField(model.__name__, name, frozenset(held_by))
        for model, held_by in parents.items()
        for name, info in model.model_fields.items()
        if not info.exclude
    ]


def module_reads(path: Path) -> Reads:
    reads = Reads()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            reads.attributes.add(node.attr)
            if isinstance(node.value, ast.Attribute):
                reads.pairs.add((node.value.attr, node.attr))
            elif isinstance(node.value, ast.Name):
                reads.pairs.add((node.value.id, node.attr))
        elif isinstance(node, ast.Name):
            reads.names.add(node.id)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            held = {inner.attr for inner in ast.walk(node.value) if isinstance(inner, ast.Attribute)}
            reads.aliases.setdefault(node.targets[0].id, set()).update(held)
        elif isinstance(node, ast.alias):
            reads.names.add(node.asname or node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            reads.names.update(node.value.replace("[", " ").replace("]", " ").replace("|", " ").split())
    return reads


def all_reads() -> list[Reads]:
    return [module_reads(path) for path in sorted(PACKAGE.rglob("*.py")) if path not in MODEL_MODULES]


def test_every_config_field_is_read_or_reserved() -> None:
    modules = all_reads()
    unread = [
        str(item)
        for item in config_fields()
        if str(item) not in RESERVED and not any(reads.reads(item) for reads in modules)
    ]
    assert unread == [], "read these fields where they matter, remove them, or reserve them with a reason"


def test_reserved_fields_exist() -> None:
    assert set(RESERVED) <= {str(item) for item in config_fields()}


def test_a_field_read_only_by_the_model_is_found() -> None:
    reads = module_reads(PACKAGE / "config" / "__init__.py")
    emoji = ConfigField("ReportConfig", "emoji", frozenset({"report"}))
    assert not Reads(attributes={"emoji"}, names={"ProbeConfig"}).reads(emoji)
    assert Reads(attributes={"emoji"}, pairs={("report", "emoji")}).reads(emoji)
    aliased = Reads(attributes={"emoji"}, pairs={("shown", "emoji")}, aliases={"shown": {"report"}})
    assert aliased.reads(emoji)
    assert "ReportConfig" in reads.names


def test_the_walk_reaches_nested_models() -> None:
    fields = {str(item) for item in config_fields()}
    assert {"Config.probe", "ReportConfig.emoji", "StepConfig.binary_hex", "CloudRunConfig.service"} <= fields
