"""No import cycle between the daemon's packages, counting every import: top-level, inside
functions and under TYPE_CHECKING.

Each subpackage of `tocsin` (actions, automations, events, jobs, prefect, server, sources,
client, cli) and each top-level module (config, templates, errors...) is one node; an edge
A -> B means some module of A imports some module of B. The parts are linked in one
composition root (`tocsin.compose`), so the graph must have no cycle: a cycle means a part
reaches back into another part that depends on it, which is how the parts once came to find
each other by name.

What is not a node of its own package: the root package `tocsin` (every module's parent,
imported first whatever else is), and Prefect's import paths for Python programs
(`tocsin.events.actions`, `tocsin.events.schemas.*`, and module-level `__getattr__` lazy
names): they re-export the daemon's classes for users, nothing in the daemon imports them,
so each is a node of its own above the parts.

`python tests/test_import_layers.py` prints the package map and any cycles.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import tocsin

PACKAGE = Path(tocsin.__file__).parent
#: Prefect-compatible import paths that only re-export (see the module docstring).
FACADES = ("tocsin.events.actions", "tocsin.events.schemas")


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module under `root`, by dotted name."""
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def node(module: str, function: str | None = None) -> str | None:
    """The graph node a module (or a lazy `__getattr__` in it) belongs to; None: not one."""
    if function == "__getattr__":
        return f"{module}:__getattr__"
    if module.startswith(FACADES):
        return module
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str | None, str]]:
    """(enclosing top-level function or None, imported tocsin module) for every import in
    the module, wherever it is."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str | None, str]] = []

    def visit(tree: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(tree):
            inner = function
            if function is None and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = child.name
            if isinstance(child, ast.Import):
                found.extend((function, a.name) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".")[:None if is_package else -1]
                    base = base[:len(base) - child.level + 1]
                    where = ".".join(base + ([child.module] if child.module else []))
                else:
                    where = child.module or ""
                for alias in child.names:
                    sub = f"{where}.{alias.name}"
                    found.append((function, sub if sub in known else where))
            visit(child, inner)

    visit(ast.parse(path.read_text()), None)
    return [(f, m) for f, m in found if m in known]


def package_graph(root: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """node -> node -> the imports ("module[:function] -> module") that make the edge."""
    known = modules(root)
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, path in known.items():
        for function, target in imports(name, path, known):
            a, b = node(name, function), node(target)
            if a is not None and b is not None and a != b:
                where = f"{name}:{function}" if function else name
                graph[a][b].append(f"{where} -> {target}")
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in list(graph):
        if v not in index:
            connect(v)
    return out


def describe(graph: dict[str, dict[str, list[str]]], group: list[str]) -> str:
    lines = [" <-> ".join(group)]
    for a in group:
        for b in group:
            if b in graph.get(a, {}):
                lines.append(f"  {a} -> {b}: {graph[a][b][0]}"
                             + (f" (+{len(graph[a][b]) - 1} more)" if len(graph[a][b]) > 1 else ""))
    return "\n".join(lines)


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    found = cycles(graph)
    assert not found, "import cycles between tocsin's packages:\n" + "\n".join(
        describe(graph, g) for g in found)


def test_the_guard_sees_a_cycle_made_inside_a_function(tmp_path: Path) -> None:
    """A package tree where `a` imports `b` at the top and `b` imports `a` in a function."""
    root = tmp_path / "tocsin"
    for package in ("a", "b"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "a" / "x.py").write_text("from ..b import y\n")
    (root / "b" / "y.py").write_text("def f():\n    from ..a.x import z\n")
    (root / "b" / "lazy.py").write_text("def __getattr__(name):\n    from ..a import x\n")
    graph = package_graph(root)
    assert cycles(graph) == [["a", "b"]]
    assert graph["b"]["a"] == ["tocsin.b.y:f -> tocsin.a.x"]
    assert "tocsin.b.lazy:__getattr__" in graph  # a lazy name is a node of its own


if __name__ == "__main__":
    g = package_graph()
    for a in sorted(g):
        print(f"{a} -> {', '.join(sorted(g[a]))}")
    found = cycles(g)
    print(f"\n{len(found)} cycle group(s)")
    for group in found:
        print(describe(g, group))
    sys.exit(1 if found else 0)
