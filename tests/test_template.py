"""template.yaml: the function's role grants exactly the actions the code calls, on resources
no wider than this provider's users and poll resources; the IAM linter passes and can fail.
What each condition allows and refuses is proven by evaluation: tests/test_iam_policy.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cloudformation.request import RULE_PREFIX
from elasticache.limits import HOLD_TAG
from lint.cfn_yaml import load_template
from lint.iam_policies import ACCEPTED, findings

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "src" / "handler"
ELASTICACHE, CLOUDFORMATION = HANDLER / "elasticache", HANDLER / "cloudformation"
USERS = "arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:user:${UserIdPrefix}*"
GROUPS = "arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:usergroup:${UserGroupIdPrefix}*"
THIS_STACK = {"Ref": "AWS::StackId"}


def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def statements(role_name: str = "ElastiCacheUserRole", kms: bool = True) -> list[dict[str, Any]]:
    """The role's statements as written (intrinsics kept), with the KMS one in or out."""
    role = template()["Resources"][role_name]["Properties"]
    written = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    return [s["Fn::If"][1 if kms else 2] if "Fn::If" in s else s for s in written if kms or "Fn::If" not in s]


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def actions_the_code_calls() -> set[str]:
    """Read off the source: ElastiCache calls in our code, the poll calls (crhelper's and the
    adapter's), the powertools Parameters getters, KMS behind them, the failure destination,
    and the log writes of any Lambda function."""
    code = (ELASTICACHE / "users.py").read_text() + (ELASTICACHE / "groups.py").read_text()
    ours = {f"elasticache:{camel(m)}" for m in re.findall(r"self\._client\.(\w+)\(", code)}
    sources = (CLOUDFORMATION / "polling.py").read_text()  # every hand-over call (crhelper's own are overridden)
    poll = {f"events:{camel(m)}" for m in re.findall(r"self\._events\.(\w+)\(", sources)}
    poll |= {f"lambda:{camel(m)}" for m in re.findall(r"self\._lambda\.(\w+)\(", sources)}
    written = (CLOUDFORMATION / "records.py").read_text()
    records = {f"ssm:{camel(m)}" for m in re.findall(r"self\._client\.(\w+)\(", written)}
    secrets_source = (HANDLER / "rules" / "secrets_source.py").read_text()
    getters = {"secrets.get(": "secretsmanager:GetSecretValue", "ssm.get(": "ssm:GetParameter"}
    secrets = {action for call, action in getters.items() if call in secrets_source}
    function = template()["Resources"]["ElastiCacheUserFunction"]["Properties"]
    destination = function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    failure = {"lambda:InvokeFunction"} if destination["Type"] == "Lambda" else set()
    kms = {"kms:Decrypt"} if secrets else set()
    provenance = (CLOUDFORMATION / "provenance.py").read_text()
    confirm = {f"cloudformation:{camel(m)}" for m in re.findall(r"self\._cloudformation\.(\w+)\(", provenance)}
    return ours | poll | secrets | records | kms | failure | confirm | {"logs:CreateLogStream", "logs:PutLogEvents"}


def sub(statement: dict[str, Any]) -> str:
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
    function = account.replace("{service}", "lambda") + "function:${AWS::StackName}-elasticache-user"
    allowed = {
        "elasticache": USERS,
        "events": account.replace("{service}", "events") + "rule/" + RULE_PREFIX + "*",
        "cloudformation": account.replace("{service}", "cloudformation") + "stack/*",
        "lambda": function,
        "lambda:InvokeFunction": account.replace("{service}", "lambda") + "function:${AWS::StackName}-ecuser-failure",
        "logs": account.replace("{service}", "logs") + "log-group:/aws/lambda/${AWS::StackName}-elasticache-user:*",
        "secretsmanager": account.replace("{service}", "secretsmanager") + "secret:${PasswordSecretsPrefix}*",
        "ssm": account.replace("{service}", "ssm") + "parameter/${PasswordSecretsPrefix}*",
        "ssm:PutParameter": account.replace("{service}", "ssm") + "parameter${DriftRecordPath}/${AWS::StackName}/*",
    }
    for statement in statements():
        if statement["Effect"] == "Deny":  # the one Deny: no role touches an operator's hold
            assert statement["Condition"] == {"ForAnyValue:StringEquals": {"aws:TagKeys": HOLD_TAG}}
            continue
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        services = {a.split(":")[0] for a in statement["Action"]}
        assert len(services) == 1, statement
        service = services.pop()
        if service == "kms":
            assert statement["Resource"] == {"Ref": "KmsKeyArns"}
            continue
        key = "lambda:InvokeFunction" if statement["Action"] == ["lambda:InvokeFunction"] else service
        key = "ssm:PutParameter" if "ssm:PutParameter" in statement["Action"] else key
        assert sub(statement) in (allowed[key], GROUPS if service == "elasticache" else None), statement


def test_the_functions_scope_follows_the_provider_parameters() -> None:
    """What each condition is compared with (the stack id, the prefixes) reaches the code too;
    the conditions themselves are proven by evaluation (tests/test_iam_policy.py) and by every
    test's requests (local/iam_gate.py)."""
    environment = template()["Resources"]["ElastiCacheUserFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["PROVIDER_ID"] == THIS_STACK
    assert environment["USER_ID_PREFIX"] == {"Ref": "UserIdPrefix"}
    assert environment["USER_GROUP_ID_PREFIX"] == {"Ref": "UserGroupIdPrefix"}
    assert environment["ALLOW_ADOPTION"] == {"Ref": "AllowAdoption"}


def test_the_iam_linter_passes_and_can_fail(tmp_path: Path) -> None:
    accepted = {(a["role"], a["policy"], a["where"], a["issue"]) for a in json.loads(ACCEPTED.read_text())}
    assert findings(ROOT / "template.yaml") == accepted and all(a["reason"] for a in json.loads(ACCEPTED.read_text()))
    broken = (ROOT / "template.yaml").read_text().replace("elasticache:DeleteUser", "elasticache:DeleteUsers", 1)
    (tmp_path / "template.yaml").write_text(broken)
    assert ("ElastiCacheUserRole", "elasticache-users", "elasticache:DeleteUsers", "UNKNOWN_ACTION") in findings(
        tmp_path / "template.yaml"
    )


def test_the_function_runs_the_lambda_runtime_on_the_chosen_architecture() -> None:
    function = template()["Resources"]["ElastiCacheUserFunction"]["Properties"]
    assert function["Runtime"] in ("python3.12", "python3.13")
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert template()["Parameters"]["Architecture"]["Default"] == "arm64"
    example = template()["Resources"]["ExampleUser"]
    assert example["Type"] == "Custom::ElastiCacheUser" and "ServiceTimeout" in example["Properties"]


@pytest.mark.parametrize("event", sorted((ROOT / "events").glob("*.json")), ids=lambda p: p.name)
def test_example_secrets_are_under_the_default_prefix(event: Path) -> None:
    default = template()["Parameters"]["PasswordSecretsPrefix"]["Default"]
    properties = json.loads(event.read_text())["ResourceProperties"]
    for name in ("PasswordSecretId", "PasswordParameterName"):
        if name in properties:
            assert properties[name].lstrip("/").startswith(default), properties[name]


def test_a_failed_invocation_goes_to_the_notifier_which_cannot_loop() -> None:
    resources = template()["Resources"]
    config = resources["ElastiCacheUserFunction"]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 0 and config["MaximumEventAgeInSeconds"] <= 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": "FailureNotifierFunction.Arn"}
    notifier = resources["FailureNotifierFunction"]["Properties"]
    assert notifier["Handler"] == "notifier.app.lambda_handler" and (HANDLER / "notifier" / "app.py").exists()
    assert notifier["EventInvokeConfig"] == {"MaximumRetryAttempts": 0}  # no destination of its own
    granted = {a for s in statements("FailureNotifierRole") if s["Effect"] == "Allow" for a in s["Action"]}
    assert granted == {
        "elasticache:DescribeUsers",
        "elasticache:ListTagsForResource",
        "cloudformation:DescribeStackResource",  # a record is answered only for a request under way
        "cloudformation:DescribeStacks",
        "events:RemoveTargets",
        "events:DeleteRule",
        "lambda:RemovePermission",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    # The calls the notifier's clean-up makes (polling.Polling.remove) are exactly those.
    removal = (CLOUDFORMATION / "polling.py").read_text().split("def remove(")[1].split("\n    def _quietly")[0]
    called = {f"events:{camel(m)}" for m in re.findall(r"self\._events\.(\w+)\(", removal)}
    called |= {f"lambda:{camel(m)}" for m in re.findall(r"self\._lambda\.(\w+)\(", removal)}
    assert called == {"events:RemoveTargets", "events:DeleteRule", "lambda:RemovePermission"}
    # ... on the provider's own function only.
    sids = {s["Sid"]: s for s in statements("FailureNotifierRole")}
    assert sub(sids["RemoveLeftPollPermission"]).endswith(":function:${AWS::StackName}-elasticache-user")
    assert sub(sids["RemoveLeftPolls"]).endswith(f":rule/{RULE_PREFIX}*")


def test_the_cdk_construct_library_has_the_providers_version() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    library = tomllib.loads((ROOT / "cdk" / "pyproject.toml").read_text())["project"]
    assert (library["name"], library["version"]) == ("cdk-elasticache-user", project["version"])


def test_one_version_and_a_complete_serverless_repo_listing() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listing = template()["Metadata"]["AWS::ServerlessRepo::Application"]
    assert listing["SemanticVersion"] == project["version"]
    newest = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert newest is not None and newest.group(1) == project["version"]
    required = ("Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl", "Labels", "HomePageUrl")
    for field in (*required, "SemanticVersion", "SourceCodeUrl"):
        assert listing[field], field
    assert listing["SpdxLicenseId"] == project["license"] and "Apache License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / listing["LicenseUrl"]).is_file() and (ROOT / listing["ReadmeUrl"]).is_file()
    assert all(listing[url].startswith("https://") for url in ("HomePageUrl", "SourceCodeUrl"))
    assert 1 <= len(listing["Labels"]) <= 10 and all(len(label) <= 127 for label in listing["Labels"])


def test_a_grant_on_the_providers_name_pattern_invokes_the_provider_only() -> None:
    """Teams whose stacks use the provider are granted lambda:InvokeFunction on its name, often
    as a pattern: it must not reach the notifier, the rotation or the drift function."""
    from local import iam_gate
    from local.iam_policy import compile_policy, evaluate

    names = {
        name: resource["Properties"]["FunctionName"]["Fn::Sub"]
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert len(names) == 4 and names["ElastiCacheUserFunction"] == "${AWS::StackName}-elasticache-user"
    assert {n.replace("${AWS::StackName}", iam_gate.STACK_NAME) for n in names.values()} == set(
        iam_gate.FUNCTION_NAMES.values()
    )
    pattern = f"arn:aws:lambda:{iam_gate.REGION}:{iam_gate.ACCOUNT}:function:{iam_gate.STACK_NAME}-elasticache-user*"
    grant = compile_policy([{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": pattern}])
    reached = {
        f
        for f in iam_gate.FUNCTION_NAMES
        if evaluate(grant, "lambda:InvokeFunction", iam_gate.function_arn(f)).effect == "Allow"
    }
    assert reached == {"provider"}
