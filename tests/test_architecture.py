"""The package's shape, as docs/design.md states it: every module imports on its own, no module
is named like a function the package exports, and no package imports another package's
underscore module."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import convgrad

SRC = Path(convgrad.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages(convgrad.__path__, "convgrad."))


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _module_path(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package = SRC / relative / "__init__.py"
    return package if package.exists() else (SRC / relative).with_suffix(".py")


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports_by_its_dotted_name(module):
    assert importlib.import_module(module).__name__ == module


def test_the_engine_modules_are_where_the_design_puts_them():
    expected = {
        f"convgrad.verification.{name}"
        for name in (
            "api",
            "bounds",
            "calls",
            "checks",
            "diagnosis",
            "numeric",
            "problem",
            "result",
            "runner",
            "search",
        )
    }
    assert expected <= set(MODULES)


@pytest.mark.parametrize("name", [n for n in convgrad.__all__ if not n.startswith("__")])
def test_no_module_is_named_like_an_exported_name(name):
    assert f"convgrad.{name}" not in MODULES
    assert getattr(convgrad, name) is not None


def _underscore_imports(source: str, package: str) -> list[tuple[str, str]]:
    """(imported module, importing package) for every import of another package's underscore
    module in ``source``, a module of ``package``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convgrad"):
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.startswith("convgrad")]
        else:
            continue
        for target in targets:
            if target not in MODULES:
                continue
            owner, _, leaf = target.rpartition(".")
            if leaf.startswith("_") and not leaf.startswith("__") and owner != package:
                found.append((target, package))
    return found


@pytest.mark.parametrize("module", MODULES)
def test_no_package_imports_another_packages_underscore_module(module):
    path = _module_path(module)
    assert _underscore_imports(path.read_text(), _package_of(module, path)) == []


@pytest.mark.parametrize(
    "source",
    ["from convgrad.commands import _parse\n", "import convgrad.commands._parse\n"],
)
def test_the_underscore_rule_flags_a_foreign_package_only(source):
    assert _underscore_imports(source, "convgrad.report") == [
        ("convgrad.commands._parse", "convgrad.report")
    ]
    assert _underscore_imports(source, "convgrad.commands") == []


def test_public_surface_exports_the_engine_types():
    assert convgrad.ConvProblem.__module__ == "convgrad.verification.problem"
    assert convgrad.Failure.__module__ == "convgrad.verification.result"
    assert issubclass(convgrad.VerificationError, AssertionError)
    assert convgrad.verify.__module__ == "convgrad.verification.api"
    assert convgrad.explain.__module__ == "convgrad.explanation.derivation"
