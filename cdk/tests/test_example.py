"""The docs' example app (docs/template-authors.md, "AWS CDK"): it synthesizes, its templates
pass cfn-lint with this project's rules, and its users, run through the local provider and the
stand-ins, are created and deleted (the path `make lifecycle` takes: the handler, the stateful ElastiCache fake with the
real engine behind it, Secrets Manager's stand-in, an HTTPS receiver as the ResponseURL)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from conftest import ROOT, new_stack

from cdk_elasticache_user import CONSENT_TAG, ElastiCacheUser, ElastiCacheUserProvider
from local.fake_elasticache import FakeElastiCache
from local.fake_secrets import FakeSecrets
from local.receiver import Receiver
from tests.conftest import Invoke

# The example's application stack, as CloudFormation names it in its requests.
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/Application/0f0e0d0c-1111-2222-3333-444455556666"


@pytest.fixture(scope="module")
def assembly() -> cdk.cx_api.CloudAssembly:
    # Loaded by path: its module name, app, is the Lambda handler's too.
    spec = importlib.util.spec_from_file_location("example_app", ROOT / "cdk" / "example" / "app.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    built: cdk.App = example.build(cdk.App(context={"aws:cdk:bundling-stacks": []}))
    return built.synth()


def _forms_stack(folder: Path) -> Path:
    """One stack with every form the library writes, for cfn-lint."""
    stack = new_stack("Forms")
    provider = ElastiCacheUserProvider(stack, "Users", user_id_prefix="app-")
    common: dict[str, Any] = {"provider": provider, "engine": "valkey", "access_string": "on ~app:* +@read"}
    ElastiCacheUser(stack, "Passwords", user_id="app-a", passwords=["Correct-Horse-Battery-1"], **common)
    secret = cdk.aws_secretsmanager.Secret(stack, "PasswordSecret")
    ElastiCacheUser(stack, "SecretUser", user_id="app-b", password_secret=secret, **common).rotate()
    parameter = cdk.aws_ssm.StringParameter.from_secure_string_parameter_attributes(
        stack, "PasswordParameter", parameter_name="/elasticache/app-c"
    )
    ElastiCacheUser(stack, "Parameter", user_id="app-c", password_parameter=parameter, **common)
    ElastiCacheUser(stack, "Iam", user_id="app-d", iam=True, user_group_ids=["app-readers"], tags={"a": "b"}, **common)
    path = folder / "Forms.template.json"
    path.write_text(json.dumps(cdk.assertions.Template.from_stack(stack).to_json()))
    return path


def test_the_synthesized_templates_pass_cfn_lint_with_the_projects_rules(
    assembly: cdk.cx_api.CloudAssembly, tmp_path: Path
) -> None:
    paths = [_forms_stack(tmp_path)]
    for stack in assembly.stacks:
        paths.append(tmp_path / f"{stack.stack_name}.template.json")
        paths[-1].write_text(json.dumps(stack.template))
    cfn_lint = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]
    done = subprocess.run(
        [*cfn_lint, *map(str, paths), "--append-rules", str(ROOT / "cfn_lint_rules")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _resolved(value: Any, secrets: dict[str, str]) -> Any:
    """A property as CloudFormation would send it: intrinsic functions resolved, scalars as strings."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return secrets[value["Ref"]]
        if set(value) == {"Fn::ImportValue"}:
            return "arn:aws:lambda:us-east-1:123456789012:function:ElastiCacheUserProvider-elasticache-user"
        return {key: _resolved(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, secrets) for item in value]
    return str(value).lower() if isinstance(value, bool) else str(value)


def _request(kind: str, logical_id: str, properties: dict[str, Any], receiver: Receiver, **more: str) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "RequestType": kind,
        "ResponseURL": receiver.url(request_id),
        "StackId": STACK_ID,
        "RequestId": request_id,
        "LogicalResourceId": logical_id,
        "ResourceType": "Custom::ElastiCacheUser",
        "ResourceProperties": properties,
        **more,
    }


def test_the_example_apps_users_are_created_and_deleted_by_the_local_provider(
    assembly: cdk.cx_api.CloudAssembly,
    fake: FakeElastiCache,
    secrets: FakeSecrets,
    receiver: Receiver,
    invoke: Invoke,
) -> None:
    template = assembly.get_stack_by_name("Application").template
    password = "Example-Passw0rd-0123456789"
    names: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            names[logical_id] = resource["Properties"]["Name"]
            secrets.add(names[logical_id], json.dumps({"username": "app-user", "password": password}))
    # The platform stack's group, with the tags its owner gave it: they admit the Application stack.
    [group] = [
        r
        for r in assembly.get_stack_by_name("Platform").template["Resources"].values()
        if "UserGroupId" in r.get("Properties", {})
    ]
    tags = {t["Key"]: t["Value"] for t in group["Properties"]["Tags"]}
    assert tags == {CONSENT_TAG: "Application"}
    fake.add_group(group["Properties"]["UserGroupId"], engine="valkey", tags=tags)
    users = {n: r for n, r in template["Resources"].items() if r["Type"] == "Custom::ElastiCacheUser"}
    assert len(users) == 2
    for logical_id, resource in users.items():
        properties = _resolved(resource["Properties"], names)
        created = invoke(_request("Create", logical_id, properties, receiver))[-1].body
        assert created["Status"] == "SUCCESS", created
        assert created["PhysicalResourceId"] == properties["UserId"]
        assert created["Data"]["UserGroupIds"] == ",".join(properties.get("UserGroupIds", []))
        if "PasswordSecretId" in properties:
            assert fake.engine is not None and fake.engine.authenticates(properties["UserName"], password)
        deleted = invoke(
            _request("Delete", logical_id, properties, receiver, PhysicalResourceId=created["PhysicalResourceId"])
        )[-1].body
        assert deleted["Status"] == "SUCCESS", deleted
        assert properties["UserId"] not in fake.users
    assert [c for c in fake.actions() if c in ("CreateUser", "DeleteUser")] == ["CreateUser", "DeleteUser"] * 2


def _readme_section() -> str:
    page = (ROOT / "docs" / "template-authors.md").read_text()
    section = page[page.index("## AWS CDK\n") :]
    return section.split("\n## ")[0]


def test_the_readme_shows_the_example_app_its_synthesized_user_and_a_real_refusal(
    assembly: cdk.cx_api.CloudAssembly,
) -> None:
    section = _readme_section()
    assert "```python\n" + (ROOT / "cdk" / "example" / "app.py").read_text() + "```" in section
    shown = section.split("Its user, as synthesized")[1].split("```json\n")[1].split("```")[0]
    logical_id, resource = next(iter(json.loads("{" + shown + "}").items()))
    assert assembly.get_stack_by_name("Application").template["Resources"][logical_id] == resource
    refusal = section.split("`reason` is the provider's own answer:\n\n```\n")[1].split("\n```")[0]
    with pytest.raises(ValueError) as raised:
        ElastiCacheUser(
            new_stack(),
            "AppUser",
            provider=ElastiCacheUserProvider.from_export(new_stack(), "Provider"),
            user_id="app-user",
            engine="valkey",
            access_string="on ~app:* +@reads",
            iam=True,
        )
    assert str(raised.value) == refusal


def test_the_example_apps_group_refuses_another_stacks_user(
    assembly: cdk.cx_api.CloudAssembly, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """Its owner admits Application* stacks only: the same user, declared by another stack, is
    refused before it is made."""
    [group] = [
        r
        for r in assembly.get_stack_by_name("Platform").template["Resources"].values()
        if "UserGroupId" in r.get("Properties", {})
    ]
    fake.add_group("app-readers", engine="valkey", tags={t["Key"]: t["Value"] for t in group["Properties"]["Tags"]})
    properties = {
        "UserId": "app-reports",
        "UserName": "app-reports",
        "Engine": "valkey",
        "AccessString": "on ~reports:* +@read",
        "AuthenticationMode": {"Type": "iam"},
        "UserGroupIds": ["app-readers"],
    }
    event = {
        **_request("Create", "ReportsUser", properties, receiver),
        "StackId": STACK_ID.replace("/Application/", "/Billing/"),
    }
    answer = invoke(event)[-1].body
    assert answer["Status"] == "FAILED" and "stack 'Billing' starts with none of them" in answer["Reason"]
    assert "CreateUser" not in fake.actions()
