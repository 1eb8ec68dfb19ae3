"""template.yaml: the function's role grants exactly the actions the code calls, on
resources no wider than the user ARNs and crhelper's poll resources."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "src" / "handler"


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsic functions (!Sub, !GetAtt, ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)  # noqa: S506
    return loaded


def statements(role_name: str = "ElastiCacheUserRole") -> list[dict[str, Any]]:
    role = template()["Resources"][role_name]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def actions_the_code_calls() -> set[str]:
    """Read off the source: ElastiCache calls in our code, crhelper's poll calls, the
    powertools Parameters getters, and the log writes of any Lambda function."""
    ours = {
        f"elasticache:{camel(m)}" for m in re.findall(r"self\._client\.(\w+)\(", (HANDLER / "users.py").read_text())
    }
    import crhelper.resource_helper

    crhelper_source = Path(crhelper.resource_helper.__file__).read_text()
    sources = crhelper_source + (HANDLER / "cfn_resource.py").read_text()
    poll = {f"events:{camel(m)}" for m in re.findall(r"self\._events_client\.(\w+)\(", sources)}
    poll |= {f"lambda:{camel(m)}" for m in re.findall(r"self\._lambda_client\.(\w+)\(", sources)}
    secrets_source = (HANDLER / "secrets_source.py").read_text()
    getters = {"get_secret": "secretsmanager:GetSecretValue", "get_parameter": "ssm:GetParameter"}
    secrets = {action for call, action in getters.items() if f"parameters.{call}(" in secrets_source}
    function = template()["Resources"]["ElastiCacheUserFunction"]["Properties"]
    destination = function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    failure = {"lambda:InvokeFunction"} if destination["Type"] == "Lambda" else set()
    return ours | poll | secrets | failure | {"logs:CreateLogStream", "logs:PutLogEvents"}


def resource_text(statement: dict[str, Any]) -> str:
    resource = statement["Resource"]
    assert isinstance(resource, dict) and set(resource) == {"Fn::Sub"}, statement
    return str(resource["Fn::Sub"])


def test_role_grants_exactly_the_actions_the_code_uses() -> None:
    granted = {a for s in statements() for a in s["Action"]}
    used = actions_the_code_calls()
    assert granted == used, f"unused grants: {granted - used}; missing grants: {used - granted}"
    assert "elasticache:DeleteUser" in used and "events:PutRule" in used  # the scan found calls


def test_every_resource_is_narrow() -> None:
    account = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:"
    allowed = {
        "elasticache": account.replace("{service}", "elasticache") + "user:*",
        "events": account.replace("{service}", "events") + "rule/*",
        "lambda": account.replace("{service}", "lambda") + "function:${AWS::StackName}-elasticache-user",
        "lambda:InvokeFunction": account.replace("{service}", "lambda")
        + "function:${AWS::StackName}-elasticache-user-failure",
        "logs": account.replace("{service}", "logs") + "log-group:/aws/lambda/${AWS::StackName}-elasticache-user:*",
        "secretsmanager": account.replace("{service}", "secretsmanager") + "secret:${PasswordSecretsPrefix}*",
        "ssm": account.replace("{service}", "ssm") + "parameter/${PasswordSecretsPrefix}*",
    }
    for statement in statements():
        assert statement["Effect"] == "Allow"
        services = {a.split(":")[0] for a in statement["Action"]}
        assert len(services) == 1, statement
        key = statement["Action"][0] if statement["Action"] == ["lambda:InvokeFunction"] else services.pop()
        assert resource_text(statement) == allowed[key], statement
        assert "NotAction" not in statement and "NotResource" not in statement


def test_users_are_created_changed_and_deleted_only_with_the_ownership_tag() -> None:
    by_action = {a: s for s in statements() for a in s["Action"]}
    key = "elasticache-user-resource:stack-id"
    for action in ("DeleteUser", "ModifyUser", "RemoveTagsFromResource"):
        assert by_action[f"elasticache:{action}"]["Condition"] == {"Null": {f"aws:ResourceTag/{key}": "false"}}
    assert by_action["elasticache:CreateUser"]["Condition"] == {"Null": {f"aws:RequestTag/{key}": "false"}}


def test_function_settings_are_the_documented_environment_variables() -> None:
    function = template()["Resources"]["ElastiCacheUserFunction"]["Properties"]
    variables = set(function["Environment"]["Variables"])
    readme = (ROOT / "README.md").read_text()
    config = (HANDLER / "config.py").read_text()
    for name in variables:
        assert f"`{name}`" in readme, name
    for name in re.findall(r'"([A-Z_]{6,})"', config):
        assert name in variables, name
    assert function["Runtime"] in ("python3.12", "python3.13") and function["Architectures"] == ["arm64"]
    example = template()["Resources"]["ExampleUser"]
    assert example["Type"] == "Custom::ElastiCacheUser" and "ServiceTimeout" in example["Properties"]


def test_a_failed_invocation_goes_to_the_notifier_which_cannot_loop() -> None:
    resources = template()["Resources"]
    config = resources["ElastiCacheUserFunction"]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 0 and config["MaximumEventAgeInSeconds"] <= 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": "FailureNotifierFunction.Arn"}
    notifier = resources["FailureNotifierFunction"]["Properties"]
    assert notifier["Handler"] == "failure.lambda_handler" and (HANDLER / "failure.py").exists()
    assert notifier["EventInvokeConfig"] == {"MaximumRetryAttempts": 0}  # no destination of its own
    granted = {a for s in statements("FailureNotifierRole") for a in s["Action"]}
    assert granted == {
        "elasticache:DescribeUsers",
        "elasticache:ListTagsForResource",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
