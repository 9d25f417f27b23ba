"""The floor plan, checked on the source: who may import whom.

An AST walk over ``src/instructkit`` (no import is executed) collects every import of an
instructkit module, lazy ones inside functions included (they run too, only later), and leaves
out those under ``if TYPE_CHECKING:`` (never run). The rules (DESIGN.md):

- the library never imports the CLI (``instructkit.cli``): the CLI is a thin skin over it;
- ``executors`` (and the ``executor`` face) import no method: method-specific distribution
  (MinHash banding, GreeDi, Dynosaur's dataset tasks) lives beside its method;
- the top-level parts of the package import each other without cycles, so each can be read,
  tested and moved on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PKG = SRC / "instructkit"
# the method wings: what executors must not know
METHODS = ("generate", "clean", "select", "loop", "train", "evaluate", "pipeline")
EXECUTION = ("executors", "executor")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node except what sits under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The instructkit modules ``path`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package, known)


def imports_in(text: str, package: str, known: set[str]) -> set[str]:
    """The instructkit modules a module's source ``text`` imports (relative ones from ``package``)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return {m for m in found if m == "instructkit" or m.startswith("instructkit.")}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    return {mod: imports_of(path, set(files)) for mod, path in files.items()}


def part(module: str) -> str:
    """The top-level part of the package a module belongs to (``instructkit.select.qdit.run`` -> select)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_lazy_and_relative_imports_and_skips_type_checking():
    text = ("from typing import TYPE_CHECKING\nimport instructkit.records\n"
            "if TYPE_CHECKING:\n    from instructkit.cli import app\nelse:\n    from instructkit import errors\n"
            "def f():\n    from instructkit.select.qdit import run\n    from . import greedi\n")
    known = {"instructkit.select.qdit.run", "instructkit.select.qdit.greedi", "instructkit.errors"}
    assert imports_in(text, "instructkit.select.qdit", known) == {
        "instructkit.records", "instructkit", "instructkit.errors", "instructkit.select.qdit",
        "instructkit.select.qdit.run", "instructkit.select.qdit.greedi"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_library_never_imports_the_cli():
    graph = import_graph()
    offenders = sorted(f"{mod} -> {dep}" for mod, deps in graph.items() if part(mod) not in ("cli", "__main__")
                       for dep in deps if part(dep) == "cli")
    assert offenders == []
    assert any(part(d) == "cli" for d in graph["instructkit.__main__"])  # the walk does see CLI imports


def test_executors_import_no_method():
    graph = import_graph()
    offenders = sorted(f"{mod} -> {dep}" for mod, deps in graph.items() if part(mod) in EXECUTION
                       for dep in deps if part(dep) in METHODS)
    assert offenders == []
    assert graph["instructkit.executor"] and graph["instructkit.executors.ray_exec"]  # they do import the shared parts


def test_no_import_cycles_between_top_level_parts():
    edges: dict[str, set[str]] = {}
    for mod, deps in import_graph().items():
        edges.setdefault(part(mod), set()).update(part(d) for d in deps if part(d) not in ("", part(mod)))
    assert cycles(edges) == []
