"""The embedded store's modules import each other in one direction only.

A circle (db → querier → db, or compact → querier → db → compact) means no module can be
read or tested without the others; imports made only for type checking count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import guardia.storage.tsdb as tsdb

PKG = "guardia.storage.tsdb"


def _graph() -> dict[str, set[str]]:
    root = Path(tsdb.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in sorted(root.glob("*.py")):
        name = f"{PKG}.{path.stem}" if path.stem != "__init__" else PKG
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PKG):
                if node.module == PKG:  # ``from guardia.storage.tsdb import wal``
                    deps.update(f"{PKG}.{a.name}" for a in node.names)
                else:
                    deps.add(node.module)
        graph[name] = deps - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return [*stack[stack.index(d):], d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_tsdb_modules_import_each_other_without_a_circle() -> None:
    graph = _graph()
    assert f"{PKG}.querier" in graph and f"{PKG}.db" in graph
    graph.pop(PKG)  # the package re-exports db's names: everything imports through it
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])


def test_the_querier_and_compaction_do_not_know_the_database() -> None:
    graph = _graph()
    assert f"{PKG}.db" not in graph[f"{PKG}.querier"]
    assert f"{PKG}.querier" not in graph[f"{PKG}.compact"]
