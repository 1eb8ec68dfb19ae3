"""The shape a newcomer relies on: small modules, no import cycles, every module known to the
import sorter."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.conftest import ROOT

HANDLER = ROOT / "src" / "handler"
PACKAGES = ("local", "bench", "lint", "cfn_lint_rules", "tests")
MODULE_LINES_MAX = 350
CDK_LIBRARY = ROOT / "cdk" / "cdk_elasticache_user"


def python_files() -> list[Path]:
    folders = [HANDLER, *(ROOT / p for p in PACKAGES if p != "tests"), ROOT / "tests_sam_local", CDK_LIBRARY]
    return [path for folder in folders for path in sorted(folder.glob("*.py"))]


def module_name(path: Path) -> str:
    return path.stem if path.parent == HANDLER else f"{path.parent.name}.{path.stem}"


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


def test_the_import_sorter_knows_every_module_as_the_projects_own() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["isort"]
    expected = {p.stem for p in HANDLER.glob("*.py")} | set(PACKAGES) | {CDK_LIBRARY.name}
    assert expected <= set(settings["known-first-party"]), sorted(expected - set(settings["known-first-party"]))
