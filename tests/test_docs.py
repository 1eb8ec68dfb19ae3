"""docs/aws-behaviour.md, the evidence of every AWS behaviour the code relies on, names tests
that exist; and the code cites that evidence, not notes outside the project."""

from __future__ import annotations

import re

from tests.conftest import ROOT

SOURCES = ("src", "local", "tests", "bench", "lint", "cfn_lint_rules", "tests_sam_local")
# The CDK library by its folders: not cdk/.venv.
CDK_SOURCES = ("cdk/cdk_elasticache_user", "cdk/tests", "cdk/example")
OUTSIDE = ("field" + "-notes", "shared" + "/")  # split: this file must not match itself


def test_every_test_the_evidence_names_exists() -> None:
    text = (ROOT / "docs" / "aws-behaviour.md").read_text()
    named = re.findall(r"((?:cdk/)?tests/\w+\.py)::(test_\w+)", text)
    assert len(named) >= 10
    for path, name in named:
        assert f"def {name}(" in (ROOT / path).read_text(), f"{path}::{name}"


def test_the_code_cites_the_projects_own_evidence() -> None:
    for folder in (*SOURCES, *CDK_SOURCES):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            assert not any(marker in text for marker in OUTSIDE), path
