"""Every public class, function and method says what it does in a docstring of its own, and names what it raises.

Public: a name without a leading underscore, at module level or in a public class (dataclass fields are not
definitions). A definition whose own body raises `SomeError(...)` names `SomeError` in its docstring; what it
raises through the functions it calls is for those to say.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("unify", "train", "dataset_scripts", "model_cards")
"""Where the rule holds: every Python file under these folders of the repository."""


def findings(tree: ast.Module) -> list[str]:
    """Qualified names of the public definitions without a docstring, or whose docstring omits a class they raise.

    An entry reads `name: no docstring` or `name: raises X, not in its docstring`.
    """
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if child.name.startswith("_"):
                continue
            name = f"{prefix}{child.name}"
            docstring = ast.get_docstring(child)
            if docstring is None:
                found.append(f"{name}: no docstring")
            else:
                unnamed = [error for error in raised(child) if error not in docstring]
                if unnamed:
                    found.append(f"{name}: raises {', '.join(unnamed)}, not in its docstring")
            if isinstance(child, ast.ClassDef):
                visit(child, f"{name}.")

    visit(tree, "")
    return found


def raised(definition: ast.AST) -> list[str]:
    """Class names in the `raise` statements of the definition's own body (nested definitions are theirs)."""
    names: list[str] = []
    pending = list(ast.iter_child_nodes(definition))
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
            if name[:1].isupper() and name not in names:  # a class, not a caught exception re-raised by name
                names.append(name)
        pending.extend(ast.iter_child_nodes(node))
    return sorted(names)


def modules() -> list[str]:
    """Every Python file of the packages, relative to the repository root."""
    return sorted(str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_check_sees_a_missing_docstring_and_an_unnamed_error():
    tree = ast.parse(
        "class A:\n"
        '    """Doc."""\n'
        "    def f(self):\n"
        "        pass\n"
        "    def _g(self):\n"
        "        pass\n"
        "def h(x):\n"
        '    """Raises `ValueError`."""\n'
        "    if x:\n"
        "        raise ValueError(x)\n"
        "    raise KeyError\n"
        "def k(x):\n"
        '    """Nothing of its own to say."""\n'
        "    def inner():\n"
        "        raise TypeError\n"
        "    try:\n"
        "        inner()\n"
        "    except TypeError as exc:\n"
        "        raise exc\n"
        "class _Private:\n"
        "    def f(self):\n"
        "        pass\n"
    )
    assert findings(tree) == ["A.f: no docstring", "h: raises KeyError, not in its docstring"]


@pytest.mark.parametrize("module", modules())
def test_public_definitions_have_docstrings_that_name_their_errors(module):
    assert findings(ast.parse((ROOT / module).read_text(encoding="utf-8"))) == []
