"""`make stackset` (lint/stackset.py): a template without any transform, for StackSets and
Customizations for Control Tower, whose resources are template.yaml's own SAM expansion but for
where the code lives; and a code zip that runs the four functions on its own."""

from __future__ import annotations

import copy
import json
import marshal
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lint import stackset
from lint.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parent.parent
KEY = "elasticache-user-resource/test/0123456789abcdef.zip"
REGIONAL_CODE = {"S3Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"}, "S3Key": {"Ref": "CodeKey"}}


def own_expansion() -> dict[str, Any]:
    """template.yaml through SAM's translator, called here and not through lint/stackset.py."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = load_template(ROOT / "template.yaml")
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": "anywhere", "Key": "code.zip"}
    expanded: dict[str, Any] = Translator({}, Parser()).translate(template, {}, get_managed_policy_map=dict)
    return expanded


def function_names() -> list[str]:
    """The functions' names as template.yaml writes them (a !Sub on the stack's name)."""
    resources = load_template(ROOT / "template.yaml")["Resources"].values()
    return [r["Properties"]["FunctionName"]["Fn::Sub"] for r in resources if r["Type"] == "AWS::Serverless::Function"]


def with_prefix(expansion: dict[str, Any]) -> dict[str, Any]:
    """The expansion with each function's name (and whatever names it) on FunctionNamePrefix."""
    text = json.dumps(expansion)
    for name in sorted(function_names(), key=len, reverse=True):
        text = text.replace(name, name.replace("${AWS::StackName}", "${FunctionNamePrefix}"))
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_every_resource_is_template_yamls_own_expansion_but_for_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    built = stackset.stackset_template(load_template(ROOT / "template.yaml"), KEY)
    own = with_prefix(own_expansion())
    assert sorted(built["Resources"]) == sorted(own["Resources"])
    assert not [r for r in built["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    assert "Transform" not in built
    functions = 0
    for logical_id, resource in own["Resources"].items():
        ours = copy.deepcopy(built["Resources"][logical_id])
        if resource["Type"] == "AWS::Lambda::Function":
            functions += 1
            assert ours["Properties"].pop("Code") == REGIONAL_CODE, logical_id
            del resource["Properties"]["Code"]
        assert ours == resource, logical_id
    assert functions == 4
    statements = [
        statement
        for resource in built["Resources"].values()
        if resource["Type"] == "AWS::IAM::Role"
        for policy in resource["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert len(statements) > 20  # the roles' statements were compared, not an empty set
    for section in ("Conditions", "Outputs"):
        assert built[section] == own[section]
    assert {k: v for k, v in built["Parameters"].items() if k not in stackset.PARAMETERS} == own["Parameters"]
    assert built["Parameters"]["CodeKey"]["Default"] == KEY and "Metadata" not in built


def test_every_function_name_fits_lambdas_64_characters_whatever_the_stack_sets_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stack set's stack is named StackSet-<name>-<36-character id>: 46 characters and more."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    built = stackset.stackset_template(load_template(ROOT / "template.yaml"), KEY)
    prefix = built["Parameters"]["FunctionNamePrefix"]
    longest = "x" * prefix["MaxLength"]
    names = [
        r["Properties"]["FunctionName"]["Fn::Sub"]
        for r in built["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert len(names) == 4 and all(name.startswith("${FunctionNamePrefix}-") for name in names)
    assert max(len(name.replace("${FunctionNamePrefix}", longest)) for name in names) == 64
    assert len(prefix["Default"]) <= prefix["MaxLength"]
    stack_set_stack = "StackSet-ecuser-" + "0" * 36
    assert all(len(name.replace("${AWS::StackName}", stack_set_stack)) > 64 for name in function_names())
    # What still names the stack: its exports and its records' path, which have room for it.
    left = set(re.findall(r'"([^"]*\$\{AWS::StackName\}[^"]*)"', json.dumps(built)))
    assert all("-ServiceToken" in s or "-RotationLambdaArn" in s or "${DriftRecordPath}" in s for s in left), left


def test_the_template_passes_cfn_lint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    path = tmp_path / "template.json"
    path.write_text(json.dumps(stackset.stackset_template(load_template(ROOT / "template.yaml"), KEY)))
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    lint = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_code_zip_runs_every_handler_on_its_own(tmp_path: Path) -> None:
    template, code, key = stackset.build(tmp_path)
    assert json.loads(template.read_text())["Parameters"]["CodeKey"]["Default"] == key
    assert template.stat().st_size <= stackset.TEMPLATE_BODY_MAX  # create-stack-set --template-body takes it
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(code) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    tag = f"cpython-{stackset.runtime_version(load_template(ROOT / 'template.yaml')).replace('.', '')}"
    assert {f"provider/__pycache__/app.{tag}.pyc", f"botocore/__pycache__/client.{tag}.pyc"} <= names
    # The bytecode names the file as Lambda holds it, not this build's directory (nor the hash depends on it).
    with zipfile.ZipFile(code) as archive:
        compiled = marshal.loads(archive.read(f"provider/__pycache__/app.{tag}.pyc")[16:])  # noqa: S302 - the zip this test just built
    assert compiled.co_filename == "/var/task/provider/app.py"
    handlers = [
        r["Properties"]["Handler"].rsplit(".", 1)[0]
        for r in load_template(ROOT / "template.yaml")["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    # -I -S: none of this machine's packages, only the zip's (as on Lambda's /var/task).
    script = "import sys; sys.path.insert(0, '.')\n" + "".join(
        f"import {module}; assert {module}.__file__.startswith('{unpacked}'), {module}.__file__\n"
        for module in [*handlers, "boto3", "crhelper", "aws_lambda_powertools"]
    )
    environment = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=unpacked,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0 and len(handlers) == 4, run.stderr[-2000:]
    assert "failed to start" not in run.stdout, run.stdout[-2000:]
