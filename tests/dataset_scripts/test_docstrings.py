"""Every public class, function and method of dataset_scripts says what it does in a docstring of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dataset_scripts"


def undocumented(tree: ast.Module) -> list[str]:
    """Qualified names of the public definitions (no leading underscore, in public classes) without a docstring."""
    missing = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            definition = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if definition and not child.name.startswith("_"):
                if ast.get_docstring(child) is None:
                    missing.append(f"{prefix}{child.name} (line {child.lineno})")
                if isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return missing


def test_the_check_sees_a_missing_docstring():
    tree = ast.parse(
        'class A:\n    """Doc."""\n    def f(self):\n        pass\n    def _g(self):\n        pass\n'
        'def h():\n    """Doc."""\n'
    )
    assert undocumented(tree) == ["A.f (line 3)"]


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE.glob("*.py")))
def test_public_definitions_have_docstrings(module):
    assert undocumented(ast.parse((PACKAGE / module).read_text(encoding="utf-8"))) == []
