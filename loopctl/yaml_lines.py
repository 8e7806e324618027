"""YAML parsing that remembers the line of every key, so config errors can point at it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from loopctl.errors import UsageError

_NODE_BUDGET = 100_000
# libyaml's C parser when PyYAML was built with it (about ten times faster); the pure-Python one otherwise.
SAFE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineIndex:
    """Maps a location (`("probe", "checks", 0, "name")`) to the 1-based line it was written on."""

    def __init__(self) -> None:
        self._lines: dict[tuple[Any, ...], int] = {}

    def add(self, location: tuple[str, ...], line: int) -> None:
        """Remember where `location` (its parts as text, the way the file spells them) was first written."""
        self._lines.setdefault(location, line)

    def line_for(self, location: Sequence[Any]) -> int:
        """The line of the deepest part of `location` that exists in the file."""
        parts = tuple(_normal(part) for part in location)
        for end in range(len(parts), 0, -1):
            if parts[:end] in self._lines:
                return self._lines[parts[:end]]
        return 1


def read_yaml(source: Path) -> tuple[Any, LineIndex]:
    """Read and parse a config file; unreadable, not UTF-8 or not YAML is a UsageError naming the file and line."""
    try:
        content = source.read_bytes()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UsageError(f"cannot read config {source}: {reason}", hint="run `loopctl init` to write one") from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as err:
        line = content.count(b"\n", 0, err.start) + 1
        raise UsageError(
            f"{source}:{line}: (file): not UTF-8 (byte 0x{content[err.start]:02x})", hint="save the file as UTF-8"
        ) from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: Path, *, loader: type[Any] | None = None) -> tuple[Any, LineIndex]:
    """Parse YAML safely in one pass (libyaml when present); a syntax error is a UsageError with the file and line.

    The node tree is composed once: it gives every key's line, refuses duplicate keys and alias bombs, and is
    then turned into Python values without parsing the text again (plain mappings, lists and strings directly,
    everything else by PyYAML's safe constructor, so the values are the ones `yaml.safe_load` gives).
    """
    parser = (loader or SAFE_LOADER)(text)
    try:
        node = parser.get_single_node()
        index = LineIndex()
        if node is not None:
            _walk(node, index, source)
        data = _construct(node, parser, {}) if node is not None else None
    except yaml.MarkedYAMLError as err:
        raise _syntax_error(err, source) from None
    except yaml.YAMLError as err:
        raise UsageError(f"{source}: not valid YAML: {err}", hint="check indentation and quoting") from None
    except RecursionError:
        raise too_deep(source) from None
    except (ValueError, OverflowError):  # an integer past Python's digit limit
        line, key = _longest_scalar(node)
        raise UsageError(
            f"{source}:{line}: {key}: a number far too long to be a setting", hint="check the values in the file"
        ) from None
    finally:
        parser.dispose()
    return data, index


_STR, _SEQ, _MAP, _MERGE = (f"tag:yaml.org,2002:{name}" for name in ("str", "seq", "map", "merge"))


def _construct(node: yaml.Node, constructor: Any, built: dict[int, Any]) -> Any:
    """The value of a node; the common shapes built here, the rest (and any oddity) left to `constructor`.

    An alias gives the same object again, as PyYAML does; nesting too deep ends in RecursionError, as it does.
    """
    if id(node) in built:
        return built[id(node)]
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else constructor.construct_object(node)
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        items: list[Any] = []
        built[id(node)] = items
        items.extend(_construct(item, constructor, built) for item in node.value)
        return items
    if isinstance(node, yaml.MappingNode) and node.tag == _MAP and all(key.tag != _MERGE for key, _ in node.value):
        mapping: dict[Any, Any] = {}
        built[id(node)] = mapping
        for key_node, value_node in node.value:
            key = _construct(key_node, constructor, built)
            try:
                hash(key)
            except TypeError:
                break  # PyYAML's constructor says what is wrong with the key, with its line
            mapping[key] = _construct(value_node, constructor, built)
        else:
            return mapping
        del built[id(node)]
    return constructor.construct_object(node, deep=True)


def _syntax_error(err: yaml.MarkedYAMLError, source: Path) -> UsageError:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else 1
    opened = err.context_mark.line + 1 if err.context_mark is not None else line
    where = f" ({err.context} at line {opened})" if err.context and opened != line else ""
    return UsageError(
        f"{source}:{line}: not valid YAML: {err.problem or err}{where}", hint="check indentation and quoting"
    )


def too_deep(source: Path) -> UsageError:
    return UsageError(
        f"{source}:1: (top level): nested too deeply to be a loopctl config",
        hint="see the config reference in loopctl's docs/configuration.md",
    )


def _walk(root: yaml.Node, index: LineIndex, source: Path) -> None:
    """Record each key's line; a document whose aliases expand past the budget is refused (an alias bomb)."""
    pending: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    visited = 0
    while pending:
        node, location = pending.pop()
        visited += 1
        if visited > _NODE_BUDGET:
            raise UsageError(
                f"{source}:1: (top level): expands to more than {_NODE_BUDGET:,} values (YAML aliases?)",
                hint="a loopctl config is a few dozen lines; remove the repeated aliases",
            )
        index.add(location, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(node, location, source)
            for key_node, value_node in node.value:
                key = (*location, str(key_node.value))
                index.add(key, key_node.start_mark.line + 1)
                pending.append((value_node, key))
        elif isinstance(node, yaml.SequenceNode):
            pending += [(item, (*location, str(position))) for position, item in enumerate(node.value)]


def _refuse_duplicates(node: yaml.MappingNode, location: tuple[str, ...], source: Path) -> None:
    """A key written twice in one mapping: YAML would keep the second silently, dropping the first block."""
    first_lines: dict[tuple[str, Any], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        first = first_lines.get((key_node.tag, key_node.value))
        if first is None:
            first_lines[(key_node.tag, key_node.value)] = line
        else:
            dotted = "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in location)
            dotted = (dotted + f".{key_node.value}").lstrip(".")
            raise UsageError(
                f"{source}:{line}: {dotted}: duplicate key (first at line {first})",
                hint=f"keep one {key_node.value}: (YAML would silently use the last and drop the first)",
            )


def _longest_scalar(root: yaml.Node | None) -> tuple[int, str]:
    """Where the longest scalar sits (line, key): what Python refused to turn into a number."""
    best: tuple[int, int, str] = (-1, 1, "(value)")
    pending: list[tuple[yaml.Node, str]] = [(root, "(value)")] if root is not None else []
    while pending:
        node, key = pending.pop()
        if isinstance(node, yaml.ScalarNode) and len(str(node.value)) > best[0]:
            best = (len(str(node.value)), node.start_mark.line + 1, key)
        elif isinstance(node, yaml.MappingNode):
            pending += [(value, str(name.value)) for name, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            pending += [(item, key) for item in node.value]
    return best[1], best[2]


def _normal(part: Any) -> Any:
    # YAML keys arrive as strings from the node tree, as ints from pydantic (close codes): compare as text.
    return str(part)
