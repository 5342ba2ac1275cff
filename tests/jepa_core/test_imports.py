"""The import graph of jepa_core: no module is part of an import cycle (imports inside functions
count too), and the command line imports jepa_core modules at module level only."""

from __future__ import annotations

import ast
from pathlib import Path

import jepa_core

PACKAGE = Path(jepa_core.__file__).parent
ROOT = PACKAGE.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _without_type_checking(tree: ast.Module) -> ast.Module:
    """``tree`` with the bodies of ``if TYPE_CHECKING:`` blocks dropped (they never run)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = [ast.Pass()]
    return tree


def _targets(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The jepa_core modules an import statement imports (``from pkg import sub`` names ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    if node.level or node.module not in MODULES:
        return set()
    found = set()
    for alias in node.names:
        sub = f"{node.module}.{alias.name}"
        found.add(sub if sub in MODULES else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each jepa_core module -> the jepa_core modules it imports anywhere (module level or in a function)."""
    graph = {}
    for name, path in MODULES.items():
        tree = _without_type_checking(ast.parse(path.read_text(encoding="utf-8")))
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found |= _targets(node)
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_hidden_two_modules_deep():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "jepa_core.cli.app" in graph["jepa_core.cli"]
    assert "jepa_core.builtins" in graph["jepa_core.registry"]  # imported inside build_registry


def test_no_module_of_jepa_core_is_part_of_an_import_cycle():
    assert cycles(import_graph()) == []


def test_the_command_line_imports_jepa_core_modules_at_module_level_only():
    late = []
    for name, path in MODULES.items():
        if not (name == "jepa_core.cli" or name.startswith("jepa_core.cli.")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and _targets(node):
                    late.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    assert late == []


PUBLIC_API = (
    "build_registry",
    "build_parts",
    "build_loader",
    "train_run",
    "load_encoder",
    "Trainer",
    "Callback",
    "Encoder",
    "Predictor",
    "Masker",
    "TargetProvider",
    "Loss",
)


def test_the_public_api_is_exported_from_jepa_core_with_an_example_each():
    for name in PUBLIC_API:
        assert name in jepa_core.__all__, name
        assert ">>>" in (getattr(jepa_core, name).__doc__ or ""), f"{name} has no example in its docstring"
    assert all(hasattr(jepa_core, name) for name in jepa_core.__all__)


def test_importing_jepa_core_leaves_the_command_line_and_the_launcher_alone():
    graph = import_graph()
    reached, todo = set(), ["jepa_core"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += graph[module]
    assert not {m for m in reached if m.startswith(("jepa_core.cli", "jepa_core.launch", "jepa_core.testing"))}
