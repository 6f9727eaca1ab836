"""Imports go downward only: the acceptance rules of the layering, checked on every module's source.

Every ``import`` and ``from ... import`` (also inside functions and ``TYPE_CHECKING`` blocks, relative
ones resolved) is read with ``ast``; nothing is imported, so a violation fails here even where it would
only run on some code path.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "facefix"

#: layer (a package, or a module as "facefix.x") -> the layers it must never import
FORBIDDEN = {
    "facefix.train": ("facefix.backends", "facefix.eval", "facefix.commands", "facefix.cli"),
    "facefix.eval": ("facefix.train", "facefix.commands", "facefix.cli"),
    "facefix.quality": ("facefix.train", "facefix.eval", "facefix.backends", "facefix.commands", "facefix.cli"),
    "facefix.backends": ("facefix.eval", "facefix.pipeline", "facefix.runner", "facefix.console",
                         "facefix.commands", "facefix.cli"),
    "facefix.face": ("facefix.backends", "facefix.eval", "facefix.train", "facefix.pipeline", "facefix.runner",
                     "facefix.console", "facefix.commands", "facefix.cli"),
    "facefix.nn": ("facefix.backends", "facefix.eval", "facefix.train", "facefix.pipeline", "facefix.runner",
                   "facefix.console", "facefix.commands", "facefix.cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The facefix modules ``path`` imports (``from facefix import hub`` counts as ``facefix.hub``)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)  # a submodule imported by name
    return {name for name in found if name == "facefix" or name.startswith("facefix.")}


MODULES = {module_name(path): imported_modules(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def test_the_parser_sees_absolute_relative_and_function_level_imports():
    assert "facefix.train.recipe" in MODULES["facefix.backends.fusion.training"]
    assert "facefix.hub" in MODULES["facefix.backends.base"]  # `from facefix import hub`, inside a function
    assert MODULES["facefix.backends"] & {"facefix.backends.base"}  # a TYPE_CHECKING import counts too


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_downward_only(layer):
    violations = [f"{module} imports {imported}"
                  for module, imports in MODULES.items() if _within(module, layer)
                  for imported in sorted(imports)
                  if any(_within(imported, forbidden) for forbidden in FORBIDDEN[layer])]
    assert not violations, "\n".join(violations)


def test_every_shared_block_has_two_backend_users():
    backends = sorted({module.split(".")[2] for module in MODULES
                       if module.startswith("facefix.backends.") and module.count(".") >= 2
                       and (PACKAGE / "backends" / module.split(".")[2]).is_dir()})
    for block in (module for module in MODULES if _within(module, "facefix.nn") and module != "facefix.nn"):
        users = {name for name in backends
                 if any(block in imports for module, imports in MODULES.items()
                        if _within(module, f"facefix.backends.{name}"))}
        assert len(users) >= 2, f"{block} is used by {sorted(users) or 'no backend'}: move it into its backend"


def test_reading_the_backend_table_imports_no_torch():
    code = ("import sys, facefix.backends as b; b.restorer_names(); b.inpainter_names(); b.recipe_names(); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent).returncode == 0
