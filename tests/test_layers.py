"""The package's layers point one way: the data layer never imports the training engine, and
the library never imports the command-line layer (read from every module's import statements)."""
from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "vipriors"

# A subpackage (or module) and the subpackages it must not import.
FORBIDDEN = {
    "data": ("engine", "recipe", "cli"),
    "models": ("engine", "data", "recipe", "cli"),
    "engine": ("recipe", "cli"),
    "recipe": ("cli",),
    "ensemble.py": ("cli", "recipe"),
    "predictions.py": ("cli", "recipe", "engine"),
    "config.py": ("cli", "recipe", "engine", "data"),
    "distributed.py": ("cli", "recipe", "engine", "data"),
}


def imported(path: pathlib.Path) -> set[str]:
    """Every vipriors module ``path`` imports, absolute dotted names (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names |= {f"{base}.{a.name}" for a in node.names} | {base}
    return {n for n in names if n == "vipriors" or n.startswith("vipriors.")}


def layer_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def modules(unit: str) -> list[pathlib.Path]:
    target = PACKAGE / unit
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize("unit", sorted(FORBIDDEN))
def test_layer_imports_point_down(unit):
    forbidden = {f.removesuffix(".py") for f in FORBIDDEN[unit]}
    bad = []
    for path in modules(unit):
        for name in imported(path):
            if layer_of(name) in forbidden:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_reader_resolves_relative_imports():
    # The rule above is only as good as the reader: "from .. import x" and "from . import y"
    # inside vipriors/engine resolve to vipriors.x and vipriors.engine.y.
    names = imported(PACKAGE / "engine" / "trainer.py")
    assert {"vipriors.distributed", "vipriors.engine.autos", "vipriors.data.dataset"} <= names
    assert layer_of("vipriors.engine.autos") == "engine" and layer_of("vipriors") is None
