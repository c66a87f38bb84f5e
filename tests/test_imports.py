"""symgrad's modules import each other without a cycle.

Every import is read off the source with ``ast``, wherever it is written: at module level, inside
a function (a lazy import is still a dependency), under ``if TYPE_CHECKING:``. Only imports of
symgrad's own modules are edges; ``from symgrad import name`` is an edge to the module
``symgrad/name.py`` when there is one, else to the package itself (``symgrad/__init__.py``, which
imports every module).
"""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

PACKAGE = "symgrad"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def _module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (the package itself included)."""
    files = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def _imports(name: str, path: Path, modules: set[str]) -> list[tuple[str, int]]:
    """The package's modules that module ``name`` imports, each with the line of the import."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # ``from base import attr``: attr is a module of its own when base is a package that has it.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            # ``import symgrad.a.b`` depends on symgrad.a.b (its parents are packages being imported anyway).
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno))
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """Module -> {module it imports: the line of the first such import}."""
    files = _module_files()
    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        edges: dict[str, int] = {}
        for target, line in _imports(name, path, set(files)):
            edges.setdefault(target, line)
        graph[name] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of modules that import each other (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def a_cycle(graph: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """One cycle through the first module of a strongly connected group: a -> b -> ... -> a."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:  # breadth first, so the cycle shown is a shortest one through ``start``
        following = []
        for node in frontier:
            for succ in sorted(graph[node]):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if succ in members and succ not in came_from:
                    came_from[succ] = node
                    following.append(succ)
        frontier = following
    raise AssertionError(f"{group} is not strongly connected")


def _edge(graph: dict[str, dict[str, int]], a: str, b: str) -> str:
    return f"{a} -> {b} ({_module_files()[a].relative_to(ROOT.parent)}:{graph[a][b]})"


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 10 and "symgrad.expr" in graph["symgrad.ops"]  # the walk did find the imports
    groups = strongly_connected(graph)
    report = [f"modules importing each other: {', '.join(group)}\n"
              f"  e.g. {' -> '.join(cycle)}\n    " + "\n    ".join(_edge(graph, a, b) for a, b in pairwise(cycle))
              + "\n  all their imports of each other:\n    "
              + "\n    ".join(_edge(graph, a, b) for a in group for b in sorted(graph[a]) if b in group)
              for group in groups for cycle in [a_cycle(graph, group)]]
    assert not groups, "import cycles in symgrad:\n" + "\n".join(report)


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b": 1}, "b": {"c": 2, "d": 3}, "c": {"a": 4}, "d": {}, "e": {"e": 5}, "f": {"g": 6}, "g": {}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert strongly_connected({"a": {"b": 1}, "b": {"a": 2}, "c": {}}) == [["a", "b"]]


def test_the_walk_reads_every_kind_of_import(tmp_path, monkeypatch):
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("from symgrad.low import x\n")
    (package / "low.py").write_text("import math\nx = 1\n")
    (package / "mid.py").write_text("import symgrad.low\nfrom symgrad import low, x\nfrom . import low as l2\n")
    (package / "top.py").write_text("def f():\n    from .mid import y\n    import sympy\n    import symgrad\n")
    monkeypatch.setattr(f"{__name__}.ROOT", package)
    assert import_graph() == {
        "symgrad": {"symgrad.low": 1},
        "symgrad.low": {},
        "symgrad.mid": {"symgrad.low": 1, "symgrad": 2},
        "symgrad.top": {"symgrad.mid": 2, "symgrad": 4},
    }
