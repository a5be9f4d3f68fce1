"""Imports run one way: ``vista_envs`` never imports the learners, and no two of its subpackages import each other.

Every module of the package is read with ``ast`` (nothing is imported), so an import inside a function, a
relative import and ``importlib.import_module("literal")`` all count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import vista_envs

PACKAGE = Path(vista_envs.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, as an absolute dotted name."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, up level - 1 packages
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                yield from ([module] if node.module else [f"{module}.{alias.name}" for alias in node.names])
            else:
                yield str(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def unit(module: str) -> str:
    """The part of the package a module belongs to: its subpackage or top-level module (``vista_envs.tools``)."""
    return ".".join(module.split(".")[:2])


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
# (importing unit, imported unit) -> one module that makes that edge, for the error message.
EDGES: dict[tuple[str, str], str] = {}
for _name, _path in MODULES.items():
    for _target in imported_modules(_path):
        if _target.startswith("vista_envs.") and unit(_target) != unit(_name):
            EDGES.setdefault((unit(_name), unit(_target)), f"{_name} imports {_target}")


def test_the_walk_sees_the_packages_own_imports():
    assert len(MODULES) > 50
    assert ("vista_envs.envs", "vista_envs.tasks") in EDGES  # the task envs are built on the task families
    assert "vista_envs.tools.search" in set(imported_modules(MODULES["vista_envs.tools.session"]))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_of_vista_envs_imports_the_learners(name):
    learners = sorted(
        {target for target in imported_modules(MODULES[name]) if target.split(".")[0] in ("agents", "vista_agents")}
    )
    assert not learners, f"{name} imports the learners: {learners}"


def test_no_two_parts_of_vista_envs_import_each_other():
    both_ways = sorted(f"{EDGES[(a, b)]}, and {EDGES[(b, a)]}" for a, b in EDGES if a < b and (b, a) in EDGES)
    assert not both_ways, "imports both ways:\n" + "\n".join(both_ways)
