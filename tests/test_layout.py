"""The shape a newcomer relies on: one package per function, shared layers below them, small
modules, no import cycles, every package known to the import sorter."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from lint.cfn_yaml import load_template
from tests.conftest import ROOT

HANDLER = ROOT / "src" / "handler"
PACKAGES = ("local", "bench", "lint", "cfn_lint_rules", "tests")
MODULE_LINES_MAX = 350
CDK_LIBRARY = ROOT / "cdk" / "cdk_elasticache_user"
# Each function's package and the template resource whose Handler points into it.
FUNCTIONS = {
    "provider": "ElastiCacheUserFunction",
    "notifier": "FailureNotifierFunction",
    "rotation": "RotationFunction",
    "drift": "DriftFunction",
}
# The shared layers, lowest first: a layer imports only the layers before it.
LAYERS = ("runtime", "elasticache", "rules", "cloudformation")


def handler_packages() -> set[str]:
    return {path.parent.name for path in HANDLER.glob("*/__init__.py")}


def python_files() -> list[Path]:
    folders = [
        *(HANDLER / p for p in sorted(handler_packages())),
        *(ROOT / p for p in PACKAGES if p != "tests"),
        ROOT / "tests_sam_local",
        CDK_LIBRARY,
    ]
    return [path for folder in folders for path in sorted(folder.glob("*.py"))]


def module_name(path: Path) -> str:
    return f"{path.parent.name}.{path.stem}"


def imports(path: Path) -> set[str]:
    """The project modules `path` imports, anywhere in it (lazy and type-only imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def package_imports() -> dict[str, set[str]]:
    """Each handler package and the other handler packages its modules import."""
    packages = handler_packages()
    found: dict[str, set[str]] = {name: set() for name in packages}
    for name in packages:
        for path in (HANDLER / name).glob("*.py"):
            found[name] |= {imported.split(".")[0] for imported in imports(path)} & packages - {name}
    return found


def test_the_handler_is_the_four_functions_and_the_shared_layers_nothing_loose() -> None:
    assert handler_packages() == set(FUNCTIONS) | set(LAYERS)
    assert not list(HANDLER.glob("*.py")), "every module belongs to a package"


def test_each_function_handler_points_into_its_own_package() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    for package, resource in FUNCTIONS.items():
        properties = resources[resource]["Properties"]
        assert properties["Handler"] == f"{package}.app.lambda_handler", resource
        assert properties["CodeUri"] == "src/handler/", resource
        assert (HANDLER / package / "app.py").is_file()


def test_a_function_imports_shared_layers_never_another_function() -> None:
    for package, imported in package_imports().items():
        if package in FUNCTIONS:
            assert imported <= set(LAYERS), (package, sorted(imported - set(LAYERS)))


def test_a_shared_layer_imports_only_the_layers_below_it() -> None:
    found = package_imports()
    for level, layer in enumerate(LAYERS):
        assert found[layer] <= set(LAYERS[:level]), (layer, sorted(found[layer] - set(LAYERS[:level])))


def test_every_module_stays_small() -> None:
    long = {module_name(p): n for p in python_files() if (n := len(p.read_text().splitlines())) > MODULE_LINES_MAX}
    assert not long, long


def test_no_modules_import_each_other_in_a_circle() -> None:
    modules = {module_name(p): p for p in python_files()}
    graph = {name: sorted(imports(path) & set(modules) - {name}) for name, path in modules.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", " -> ".join([*trail, name])
        state[name] = "open"
        for imported in graph[name]:
            visit(imported, [*trail, name])
        state[name] = "done"

    for name in graph:
        visit(name, [])


def test_the_import_sorter_knows_every_package_as_the_projects_own() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["isort"]
    expected = handler_packages() | set(PACKAGES) | {CDK_LIBRARY.name}
    assert expected <= set(settings["known-first-party"]), sorted(expected - set(settings["known-first-party"]))
