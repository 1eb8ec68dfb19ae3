"""docs/aws-behaviour.md, the evidence of every AWS behaviour the code relies on, names tests
that exist; and the project cites that evidence, not notes outside the project.

Each check is a function run on the real files and, to show it can fail, on a text that
holds the defect it names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

# The CDK library by its folders: not cdk/.venv.
SOURCES = (
    *("src", "local", "tests", "bench", "lint", "cfn_lint_rules", "tests_sam_local", "docs"),
    *("cdk/cdk_elasticache_user", "cdk/tests", "cdk/example"),
)
SUFFIXES = (".py", ".md", ".yaml", ".yml", ".toml", ".json", ".sh")
OUTSIDE = re.compile(r"field" r"-notes|design" r"-notes|/work/" r"shared")  # split: this file must not match
# The project tracker's numbers (the word and a number) mean nothing to a reader of the code; another
# project's issue is cited with its name and a hash ("crhelper issue #61").
TRACKER = re.compile(r"\b[Ii]ssues? \d")


def defined_tests(path: Path) -> set[str]:
    """The test functions a module really defines (not a name in a comment or a string)."""
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def missing_evidence(text: str) -> list[str]:
    """Rows of the evidence tables (the Test cell last) whose Test cell names no test, a module
    that does not exist, or a test function its module does not define."""
    problems, evidence, header = [], False, True
    for row in text.splitlines():
        if not row.startswith("|"):
            header = True  # what follows starts another table
            continue
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if header:  # a table is evidence by its header (the statuses table is not)
            evidence, header = cells[0] == "Behaviour", False
            continue
        if not evidence or set(cells[0]) <= {"-", " "}:
            continue  # another table, or the header's rule
        if len(cells) not in (3, 4) or not cells[1]:  # the crhelper table has no "Modelled by"
            problems.append(f"not a row with a source and a test: {row[:60]}")
            continue
        named = re.findall(r"`((?:cdk/)?tests(?:_sam_local)?/\w+\.py)(?:::(test_\w+))?`", cells[-1])
        if not named:
            problems.append(f"no test named: {row[:60]}")
        for module, name in named:
            path = ROOT / module
            if not path.is_file():
                problems.append(f"no module {module}")
            elif name and name not in defined_tests(path):
                problems.append(f"{module} defines no {name}")
    return problems


def test_every_test_the_evidence_names_exists() -> None:
    text = (ROOT / "docs" / "aws-behaviour.md").read_text()
    assert missing_evidence(text) == []
    assert len(re.findall(r"tests/\w+\.py::test_\w+", text)) >= 10
    # The check sees a name that only a string holds, a missing module and an empty Test cell.
    table = "| Behaviour | Source | Modelled by | Test |\n|---|---|---|---|\n"
    in_a_string = table + "| b | s | m | `tests/test_docs.py::test_named_only_in_this_string` |"
    assert missing_evidence(in_a_string) == ["tests/test_docs.py defines no test_named_only_in_this_string"]
    missing = table + "| b | s | m | `tests/test_nothing_here.py` |"
    assert missing_evidence(missing) == ["no module tests/test_nothing_here.py"]
    assert missing_evidence(table + "| b | s | m | by hand |") == ["no test named: | b | s | m | by hand |"]
    assert missing_evidence("| Request | Shows |\n|---|---|\n| b | by hand |") == []  # not evidence


def citing(root: Path, pattern: re.Pattern[str]) -> list[str]:
    """Files under `root` whose text matches `pattern`."""
    files = (p for folder in SOURCES for p in (root / folder).rglob("*") if p.suffix in SUFFIXES and p.is_file())
    named = [root / "README.md", root / "Makefile", root / "template.yaml"]
    return sorted(str(p.relative_to(root)) for p in [*files, *named] if p.is_file() and pattern.search(p.read_text()))


def test_the_project_cites_its_own_evidence(tmp_path: Path) -> None:
    assert citing(ROOT, OUTSIDE) == []
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("As the " + "field" + "-notes say.")
    assert citing(tmp_path, OUTSIDE) == ["docs/notes.md"]


def test_the_code_names_no_number_of_the_projects_tracker(tmp_path: Path) -> None:
    assert citing(ROOT, TRACKER) == []
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_drift.py").write_text('"""Issue ' + '25: drift."""')
    (tmp_path / "tests" / "test_other.py").write_text("# crhelper issue #61")
    assert citing(tmp_path, TRACKER) == ["tests/test_drift.py"]


def who_may_do_what_problems(section: str) -> list[str]:
    """Rows of the README's "Who may do what" table that name no test, or a test that does not
    exist (`::name` alone refers to the module named before it in the same cell)."""
    problems = []
    for row in section.splitlines()[2:]:
        if not row.startswith("|"):
            continue
        shown_by = row.strip().strip("|").split("|")[-1]
        module, named = None, 0
        for part in re.findall(r"`([^`]*::test_\w+)`", shown_by):
            path, _, name = part.partition("::")
            module = ROOT / path if path else module
            named += 1
            if module is None or not module.is_file() or name not in defined_tests(module):
                problems.append(f"{part}: no such test")
        if not named:
            problems.append(f"no test named: {row[:60]}")
    return problems


def test_every_row_of_who_may_do_what_names_tests_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Who may do what\n", 1)[1].split("\n## ", 1)[0]
    table = section[section.index("| Actor |") :]
    actors = [row.split("|")[1].strip() for row in table.splitlines()[2:] if row.startswith("|")]
    assert len(actors) >= 8 and who_may_do_what_problems(table) == []
    header = "| Actor | Can | Cannot | Shown by |\n|---|---|---|---|\n"
    assert who_may_do_what_problems(header + "| a | b | c | by hand |") == ["no test named: | a | b | c | by hand |"]
    this = "`::test_every_row_of_who_may_do_what_names_tests_that_exist`"
    gone = header + f"| a | b | c | `tests/test_docs.py::test_gone`, {this} |"
    assert who_may_do_what_problems(gone) == ["tests/test_docs.py::test_gone: no such test"]
