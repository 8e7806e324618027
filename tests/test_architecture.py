"""The package's import graph: nothing imports the CLI, and no two modules import each other, even lazily."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "loopctl"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every `loopctl` module and the `loopctl` modules it imports anywhere in its body (lazy imports too)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    target = submodule if submodule in modules else node.module
                    if target in modules:
                        graph[name].add(target)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names if alias.name in modules)
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_module_imports_the_cli() -> None:
    graph = import_graph()
    importers = sorted(name for name, targets in graph.items() if "loopctl.cli" in targets)
    assert importers == ["loopctl.__main__"]


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


# Layers from the top: a module may import its own layer and the layers below it, never one above (lazy imports
# count too). The README's architecture section draws the same ladder.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("loopctl.__main__", "loopctl.cli"),
    ("loopctl.commands",),
    (
        "loopctl.mcp",
        "loopctl.iterate",
        "loopctl.looping",
        "loopctl.watch",
        "loopctl.past_iterations",
        "loopctl.doctor",
        "loopctl.cleanup",
        "loopctl.one_check",
        "loopctl.init_template",
        "loopctl.terminal",
    ),
    ("loopctl.runner",),
    ("loopctl.phases",),
    ("loopctl.probe", "loopctl.evidence"),
    ("loopctl.records", "loopctl.reports", "loopctl.exitcodes"),
)
# Everything else sits below every layer: config, secrets and redaction, outside text, errors, the clients.


def layer_of(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return rank
    return len(LAYERS)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) < layer_of(module)
    )


def test_imports_only_go_downwards() -> None:
    assert upward_imports(import_graph()) == []


def test_the_layer_check_sees_an_upward_import() -> None:
    graph = {"loopctl.records.record": {"loopctl.runner"}, "loopctl.runner": {"loopctl.records.record"}}
    assert upward_imports(graph) == ["loopctl.records.record -> loopctl.runner"]


def test_phases_share_their_vocabulary_from_below_the_runner() -> None:
    graph = import_graph()
    assert "loopctl.phases.base" in graph and "loopctl.phases.docker.build" in graph
    assert not [name for name in graph if name.startswith("loopctl.phases") and "loopctl.runner" in graph[name]]
