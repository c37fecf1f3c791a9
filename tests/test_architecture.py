"""The package's shape, as docs/design.md states it: every module imports on its own, no module
is named like a function the package exports, no package imports another package's
underscore module, no module imports another module's underscore names, and every document
the code cites is in the repository."""

import ast
import importlib
import pkgutil
import re
import types
from pathlib import Path

import pytest

import convgrad

SRC = Path(convgrad.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages(convgrad.__path__, "convgrad."))
SUBPACKAGES = sorted(
    m.name for m in pkgutil.walk_packages(convgrad.__path__, "convgrad.") if m.ispkg
)
PACKAGES = ["convgrad", *SUBPACKAGES]
REPO = SRC.parent.parent


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


@pytest.mark.parametrize("package", PACKAGES)
def test_no_submodule_is_hidden_by_an_attribute_of_its_package(package):
    """``import convgrad.vectors.reading as m`` binds ``m`` to the package's attribute
    ``reading`` when there is one: a function re-exported under a module's name hides it."""
    imported = importlib.import_module(package)
    hidden = {
        sub.name: type(getattr(imported, sub.name)).__name__
        for sub in pkgutil.iter_modules(imported.__path__)
        if not isinstance(getattr(imported, sub.name, types), types.ModuleType)
    }
    assert hidden == {}


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


def _private_names_imported(source: str) -> list[str]:
    """``module.name`` for every underscore name (not a module) that ``source`` imports from a
    convgrad module: a name another module needs is public there."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convgrad"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and target not in MODULES:
                    found.append(target)
    return found


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_another_modules_underscore_names(module):
    assert _private_names_imported(_module_path(module).read_text()) == []


def test_the_private_name_rule_flags_names_but_not_underscore_modules():
    source = (
        "from convgrad.spec import _is_int, per_dim_ints\n"
        "from convgrad.commands import _parse\n"
        "from convgrad import __version__\n"
    )
    assert _private_names_imported(source) == ["convgrad.spec._is_int"]


_CITED = re.compile(r"\b(?:docs/[\w./-]+\.\w+|[A-Z][A-Z_]+\.md)\b")


def _cited_documents(text: str) -> set[str]:
    return {m.group().rstrip(".") for m in _CITED.finditer(text)}


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SRC.rglob("*") if p.suffix in (".py", ".j2") and p.is_file()),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_every_document_the_source_cites_is_in_the_repository(path):
    missing = {d for d in _cited_documents(path.read_text()) if not (REPO / d).is_file()}
    assert missing == set()


def test_the_citation_rule_finds_documents_outside_the_repository():
    text = "Conventions (DESIGN.md has its own); see docs/design.md and CHANGELOG.md."
    assert _cited_documents(text) == {"DESIGN.md", "docs/design.md", "CHANGELOG.md"}
    assert not (REPO / "DESIGN.md").exists() and (REPO / "docs/design.md").is_file()


def test_public_surface_exports_the_engine_types():
    assert convgrad.ConvProblem.__module__ == "convgrad.verification.problem"
    assert convgrad.Failure.__module__ == "convgrad.verification.result"
    assert issubclass(convgrad.VerificationError, AssertionError)
    assert convgrad.verify.__module__ == "convgrad.verification.api"
    assert convgrad.explain.__module__ == "convgrad.explanation.derivation"


ENTRY_POINTS = [
    *(
        f"convgrad.{name}"
        for name in (
            "verify",
            "check_outputs",
            "verify_transpose",
            "conv",
            "conv_backward",
            "conv_transpose",
            "conv_transpose_backward",
            "output_shape",
            "explain",
        )
    ),
    "convgrad.explanation.explain_transpose",
    "convgrad.strategies.conv_problems",
    "convgrad.strategies.conv_specs",
    "convgrad.strategies.transpose_problems",
]


@pytest.mark.parametrize("dotted", ENTRY_POINTS)
def test_public_entry_points_document_args_returns_and_raises(dotted):
    module, _, name = dotted.rpartition(".")
    doc = getattr(importlib.import_module(module), name).__doc__
    assert [s for s in ("Args:", "Returns:", "Raises:") if f"\n    {s}\n" not in doc] == []


def _design_layout() -> str:
    text = (REPO / "docs" / "design.md").read_text()
    section = text.split("## Package layout and import direction", 1)[1]
    return section.split("```")[1]


@pytest.mark.parametrize("module", MODULES)
def test_the_design_documents_layout_lists_every_module(module):
    path = _module_path(module)
    name = f"{path.parent.name}/" if path.name == "__init__.py" else path.name
    if module == "convgrad":
        name = "__init__.py"
    assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", _design_layout(), re.M), name


@pytest.mark.parametrize("package", [p for p in SUBPACKAGES if p != "convgrad.data"])
def test_every_package_docstring_names_each_of_its_modules(package):
    imported = importlib.import_module(package)
    named = re.findall(r"`([\w.]+)`", imported.__doc__)
    leaves = {n.rpartition(".")[2] for n in named}
    missing = [s.name for s in pkgutil.iter_modules(imported.__path__) if s.name not in leaves]
    assert missing == []


def _defined_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        targets = node.targets if isinstance(node, ast.Assign) else []
        targets += [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            elements = target.elts if isinstance(target, ast.Tuple) else [target]
            names |= {e.id for e in elements if isinstance(e, ast.Name)}
    return names


@pytest.mark.parametrize("module", [m for m in MODULES if _module_path(m).name != "__init__.py"])
def test_a_module_exports_only_what_it_defines(module):
    """No compatibility aliases: a name that moved is exported by its new module only (packages'
    ``__init__`` re-export their modules' names, which is their job)."""
    exported = getattr(importlib.import_module(module), "__all__", [])
    assert set(exported) - _defined_names(_module_path(module).read_text()) == set()


LAYERS = {
    "_version": 0,
    "data": 0,
    "schema": 0,
    "spec": 0,
    "shapes": 1,
    "reference": 2,
    "explanation": 3,
    "verification": 4,
    "strategies": 5,
    "adapters": 5,
    "translate": 5,
    "sharding": 5,
    "vectors": 5,
    "audit": 6,
    "report": 6,
    "commands": 7,
    "cli": 7,
    "pytest_plugin": 7,
    "__main__": 8,
}
"""docs/design.md's import direction: spec <- shapes <- reference <- explanation <-
verification <- strategies, adapters, translate <- audit, report <- commands/cli; the audit runs
verify through the public surface, `convgrad` itself."""


def _module_level_imports(source: str) -> list[str]:
    """The convgrad modules ``source`` imports at module level (not inside a function)."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convgrad"):
            if node.module == "convgrad":
                found += [f"convgrad.{a.name}" for a in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("convgrad")]
    return found


@pytest.mark.parametrize("module", [m for m in MODULES if m != "convgrad"])
def test_module_level_imports_flow_one_way(module):
    own = LAYERS[module.split(".")[1]]
    upward = []
    for target in _module_level_imports(_module_path(module).read_text()):
        parts = target.split(".")
        if len(parts) == 1:
            allowed = module == "convgrad.audit"
        else:
            allowed = parts[1] not in LAYERS or LAYERS[parts[1]] <= own
        if not allowed:
            upward.append(target)
    assert upward == []


def test_the_readmes_table_names_every_top_level_module_and_the_engines_modules():
    text = (REPO / "README.md").read_text()
    table = text[text.index("| package / module | its one job |") :].split("\n\n")[0]
    top = {m.split(".")[1] for m in MODULES if m.count(".") >= 1} - {"_version", "__main__", "data"}
    assert {name for name in top if f"`convgrad.{name}`" not in table} == set()
    engine = {m.rpartition(".")[2] for m in MODULES if m.startswith("convgrad.verification.")}
    row = next(line for line in table.splitlines() if line.startswith("| `convgrad.verification`"))
    assert {name for name in engine if f"`{name}`" not in row} == set()
