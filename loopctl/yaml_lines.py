"""YAML parsing that remembers the line of every key, so config errors can point at it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from loopctl.errors import UsageError


class LineIndex:
    """Maps a location (`("probe", "checks", 0, "name")`) to the 1-based line it was written on."""

    def __init__(self) -> None:
        self._lines: dict[tuple[Any, ...], int] = {}

    def add(self, location: tuple[Any, ...], line: int) -> None:
        self._lines.setdefault(tuple(_normal(part) for part in location), line)

    def line_for(self, location: Sequence[Any]) -> int:
        """The line of the deepest part of `location` that exists in the file."""
        parts = tuple(_normal(part) for part in location)
        for end in range(len(parts), 0, -1):
            if parts[:end] in self._lines:
                return self._lines[parts[:end]]
        return 1


def parse_yaml(text: str, source: Path) -> tuple[Any, LineIndex]:
    """Parse YAML safely; a syntax error becomes a UsageError with the file and line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        opened = err.context_mark.line + 1 if err.context_mark is not None else line
        where = f" ({err.context} at line {opened})" if err.context and opened != line else ""
        raise UsageError(
            f"{source}:{line}: not valid YAML: {err.problem or err}{where}", hint="check indentation and quoting"
        ) from None
    except yaml.YAMLError as err:
        raise UsageError(f"{source}: not valid YAML: {err}", hint="check indentation and quoting") from None
    index = LineIndex()
    if node is not None:
        _walk(node, (), index)
    return data, index


def _walk(node: yaml.Node, location: tuple[Any, ...], index: LineIndex) -> None:
    index.add(location, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = _normal(key_node.value)
            index.add((*location, key), key_node.start_mark.line + 1)
            _walk(value_node, (*location, key), index)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _walk(item, (*location, position), index)


def _normal(part: Any) -> Any:
    # YAML keys arrive as strings from the node tree, as ints from pydantic (close codes): compare as text.
    return str(part)
