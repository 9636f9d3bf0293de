"""The package's layers, read from the import statements of every module (function-level imports included).

    unify.core                      the core: imports nothing else of the package
    dataset_scripts | train         on the core only, never on each other; model_cards on nothing of ours
    unify (everything else)         the application: build, pseudo-label driver, evaluate, suggest, demo, hub, cli

A test that reads the imports fails on an upward edge or on a cycle between modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("unify", "dataset_scripts", "train", "model_cards")


def layer(module: str) -> str:
    if module == "unify.core" or module.startswith("unify.core."):
        return "core"
    top = module.split(".")[0]
    return "application" if top == "unify" else top


ALLOWED = {
    "core": {"core"},
    "dataset_scripts": {"core", "dataset_scripts"},
    "train": {"core", "train"},
    "model_cards": {"model_cards"},
    "application": {"core", "dataset_scripts", "train", "model_cards", "application"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's own modules that `module` imports, anywhere in its file."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` where only a.b is ours, etc.
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {m: imports_of(m, p, set(modules)) for m, p in modules.items()}


def test_no_module_imports_a_layer_above_its_own():
    graph = import_graph()
    upward = sorted(
        f"{module} ({layer(module)}) imports {target} ({layer(target)})"
        for module, targets in graph.items()
        for target in targets
        if layer(target) not in ALLOWED[layer(module)]
    )
    assert upward == []


def test_no_import_cycles_between_modules():
    graph = import_graph()
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def test_the_layer_rules_catch_an_upward_edge_and_a_cycle():
    """The checks themselves: a core module importing train, and two modules importing each other."""
    assert "train" not in ALLOWED[layer("unify.core.folder")]
    assert "dataset_scripts" not in ALLOWED[layer("train.loop")]
    cycles = [sorted(c) for c in strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) if len(c) > 1]
    assert cycles == [["a", "b"]]


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of a directed graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components
