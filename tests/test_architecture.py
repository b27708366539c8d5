"""The shape of the code: no module imports itself back through others (lazy imports inside
functions count too), and the text primitives that drafting and checking share sit at the bottom."""
from __future__ import annotations

import ast
from pathlib import Path

from rag.config import PROJECT_ROOT

PACKAGES = ("rag", "evals", "ui")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            deps: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                deps |= {n for n in names if n.split(".")[0] in PACKAGES}
            graph[_module_name(path)] = deps
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_runs_in_a_circle():
    assert import_cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_cycle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_text_primitives_are_the_bottom_module():
    graph = import_graph()
    assert graph["rag.textnorm"] == set()
    assert graph["rag.text"] <= {"rag.textnorm"}


def test_every_guard_is_registered_with_scope_basis_action_and_a_name_for_the_user():
    from rag.guards import ACTIONS, BASES, REGISTRY, SCOPES, SENTENCE_GUARDS, GuardRunner, guard_label
    assert len({g.id for g in REGISTRY}) == len(REGISTRY)
    for g in REGISTRY:
        assert g.scope in SCOPES and g.basis in BASES and g.action in ACTIONS
        assert g.label and g.reason and guard_label(g.id) == g.label
    assert SENTENCE_GUARDS and all(g.scope == "sentence" and g.test for g in SENTENCE_GUARDS)
    assert guard_label("checker:FACT-03") == "检查：FACT-03"
    runner = GuardRunner()
    runner.log("missing-fact", "", "补上的事实。", "（一）")
    assert runner.edits[0].action == "insert"
    import pytest
    with pytest.raises(KeyError):
        runner.log("no-such-guard", "", "")     # an edit no registered guard made is refused
