"""Each form of ElastiCacheUserProvider, and the deployed one against template.yaml."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match
from conftest import ROOT, Synth, new_stack

from cdk_elasticache_user import ElastiCacheUser, ElastiCacheUserProvider
from cdk_elasticache_user._bundling import PipBundling
from cdk_elasticache_user._sources import template

SAM_FUNCTION = "AWS::Serverless::Function"


def _user(stack: cdk.Stack, provider: Any) -> ElastiCacheUser:
    return ElastiCacheUser(
        stack,
        "AppUser",
        provider=provider,
        user_id="app-user",
        engine="valkey",
        access_string="on ~app:* +@read",
        iam=True,
    )


def test_from_export_imports_the_service_token_of_the_provider_stack(stack: cdk.Stack, synth: Synth) -> None:
    _user(stack, ElastiCacheUserProvider.from_export(stack, "Provider"))
    synth(stack).has_resource_properties(
        "Custom::ElastiCacheUser", {"ServiceToken": {"Fn::ImportValue": "elasticache-user-provider-ServiceToken"}}
    )


def test_from_export_takes_another_stack_name(stack: cdk.Stack, synth: Synth) -> None:
    provider = ElastiCacheUserProvider.from_export(stack, "Provider", export_prefix="shared-users")
    assert stack.resolve(provider.rotation_function_arn) == {"Fn::ImportValue": "shared-users-RotationLambdaArn"}
    _user(stack, provider)
    synth(stack).has_resource_properties(
        "Custom::ElastiCacheUser", {"ServiceToken": {"Fn::ImportValue": "shared-users-ServiceToken"}}
    )


def test_from_service_token_uses_the_arn_given(stack: cdk.Stack, synth: Synth) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:users-elasticache-user"
    provider = ElastiCacheUserProvider.from_service_token(stack, "Provider", arn)
    assert provider.rotation_function_arn is None
    _user(stack, provider)
    synth(stack).has_resource_properties("Custom::ElastiCacheUser", {"ServiceToken": arn})


def test_the_deployed_provider_is_the_template_with_its_parameters_and_a_code_asset(
    stack: cdk.Stack, synth: Synth
) -> None:
    provider = ElastiCacheUserProvider(stack, "Provider", user_id_prefix="app-", allow_adoption=True)
    _user(stack, provider)
    result = synth(stack)
    assert result.to_json()["Transform"] == "AWS::Serverless-2016-10-31"
    # Every function of the template; the drift schedule is there too (DriftCheckSchedule's default).
    functions = [n for n, r in template()["Resources"].items() if r["Type"] == SAM_FUNCTION]
    result.resource_count_is(SAM_FUNCTION, len(functions))
    result.resource_count_is("AWS::Events::Rule", 1)
    result.resource_count_is("Custom::ElastiCacheUser", 1)  # the template's example user is left out
    result.has_resource_properties(
        SAM_FUNCTION,
        {
            "Handler": "provider.app.lambda_handler",
            "CodeUri": {"Bucket": Match.any_value(), "Key": Match.string_like_regexp(r"^[0-9a-f]{64}\.zip$")},
            "Environment": {"Variables": Match.object_like({"USER_ID_PREFIX": "app-", "ALLOW_ADOPTION": "true"})},
        },
    )
    assert set(result.to_json()["Parameters"]) == {"BootstrapVersion"}
    result.has_resource_properties(
        "Custom::ElastiCacheUser", {"ServiceToken": {"Fn::GetAtt": ["ElastiCacheUserFunction", "Arn"]}}
    )


def test_the_apps_stack_keeps_its_description_and_gets_no_serverless_repo_listing(synth: Synth) -> None:
    stack = cdk.Stack(cdk.App(context={"aws:cdk:bundling-stacks": []}), "Users", description="The team's users")
    ElastiCacheUserProvider(stack, "Provider")
    synthesized = synth(stack).to_json()
    assert synthesized["Description"] == "The team's users"
    assert "AWS::ServerlessRepo::Application" not in synthesized.get("Metadata", {})
    assert set(synthesized["Outputs"]) == {"ServiceToken", "RotationLambdaArn", "DriftFunctionName", "DashboardName"}
    # Conditions the construct's literal parameters decide are settled, not left for cfn-lint
    # to flag as constant comparisons (W8003): no KMS key given, no KMS statement.
    assert "Conditions" not in synthesized
    assert "kms:" not in json.dumps(synthesized)


def test_an_empty_drift_schedule_deploys_no_schedule_and_kms_keys_their_statements(synth: Synth) -> None:
    stack = cdk.Stack(cdk.App(context={"aws:cdk:bundling-stacks": []}), "Users")
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ElastiCacheUserProvider(stack, "Provider", kms_key_arns=[key], parameters={"DriftCheckSchedule": ""})
    synthesized = synth(stack).to_json()
    assert not [r for r in synthesized["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert key in json.dumps(synthesized) and "Fn::If" not in json.dumps(synthesized)


def test_a_second_provider_in_one_stack_raises_saying_why() -> None:
    stack = new_stack()
    ElastiCacheUserProvider(stack, "Provider")
    with pytest.raises(
        ValueError, match=re.escape("Application already has an ElastiCacheUserProvider (Application/Provider)")
    ):
        ElastiCacheUserProvider(stack, "Another")


def test_a_parameter_the_template_would_refuse_raises() -> None:
    stack = new_stack()
    with pytest.raises(ValueError, match=re.escape("user_id_prefix must match ^[a-z0-9-]*$ (got 'App_')")):
        ElastiCacheUserProvider(stack, "Provider", user_id_prefix="App_")


def _substituted(value: Any, parameters: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """template.yaml's value with the parameters' values put in, as CfnInclude does, and the
    `Fn::If`s of the conditions they decide (given here by hand) taken."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        if set(value) == {"Fn::If"} and value["Fn::If"][0] in conditions:
            name, when_true, when_false = value["Fn::If"]
            return _substituted(when_true if conditions[name] else when_false, parameters, conditions)
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name, given in parameters.items():
                text = text.replace("${" + name + "}", str(given))
            return {"Fn::Sub": text}
        pairs = {key: _substituted(item, parameters, conditions) for key, item in value.items()}
        return {key: item for key, item in pairs.items() if item != {"Ref": "AWS::NoValue"}}
    if isinstance(value, list):
        items = [_substituted(item, parameters, conditions) for item in value]
        return [item for item in items if item != {"Ref": "AWS::NoValue"}]
    return value


def _functions_and_statements(resources: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    functions = {
        name: {k: v for k, v in r["Properties"].items() if k != "CodeUri"}
        for name, r in resources.items()
        if r["Type"] == SAM_FUNCTION
    }
    statements = {
        (name, policy["PolicyName"]): policy["PolicyDocument"]["Statement"]
        for name, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        for policy in r["Properties"]["Policies"]
    }
    return functions, statements


def test_the_deployed_provider_has_the_templates_functions_and_iam_statements(synth: Synth) -> None:
    """One source: what the construct deploys is template.yaml, parameters put in."""
    stack = new_stack("Provider")
    ElastiCacheUserProvider(stack, "Provider", user_id_prefix="app-", password_secrets_prefix="secrets/app/")
    deployed = synth(stack).to_json()["Resources"]
    raw = template()
    parameters = {name: p.get("Default") for name, p in raw["Parameters"].items()}
    parameters.update(UserIdPrefix="app-", PasswordSecretsPrefix="secrets/app/", KmsKeyArns=[])
    # No KMS key given: no KMS statement; the drift schedule's default deploys it; unreserved.
    decided = {"WithKmsKeys": False, "WithDriftSchedule": True, "WithProviderConcurrency": False}
    expected = _substituted(raw["Resources"], parameters, decided)
    assert _functions_and_statements(deployed) == _functions_and_statements(expected)
    assert set(deployed) == {n for n, r in raw["Resources"].items() if r["Type"] != "Custom::ElastiCacheUser"}


@pytest.mark.parametrize(("given", "reserved"), [({}, None), ({"ProviderConcurrency": "20"}, "20")])
def test_provider_concurrency_reserves_the_provider_functions_executions(
    synth: Synth, given: dict[str, str], reserved: str | None
) -> None:
    stack = new_stack("Reserved")
    ElastiCacheUserProvider(stack, "Provider", user_id_prefix="app-", password_secrets_prefix="s/", parameters=given)
    properties = synth(stack).to_json()["Resources"]["ElastiCacheUserFunction"]["Properties"]
    # 0, the default, leaves the function unreserved: a reservation of 0 would stop it altogether.
    value = properties.get("ReservedConcurrentExecutions")
    assert (None if value is None else str(value)) == reserved


def test_the_rules_leave_the_applications_own_modules_of_the_same_name_alone() -> None:
    import sys
    from types import ModuleType

    from cdk_elasticache_user._sources import handler_rules

    own = ModuleType("rules")
    sys.modules["rules"] = own
    try:
        with handler_rules() as modules:
            assert sys.modules["rules"] is modules["rules"] is not own
        assert sys.modules["rules"] is own
        table = "rules.property_table"
        assert table not in sys.modules or sys.modules[table] is not modules[table]
    finally:
        del sys.modules["rules"]


def test_the_provider_and_the_rules_come_from_this_repository_not_a_copy() -> None:
    from cdk_elasticache_user._sources import handler_path, handler_rules, template_path

    assert template_path() == ROOT / "template.yaml"
    assert handler_path() == ROOT / "src" / "handler"
    with handler_rules() as modules:
        for name in ("rules.properties", "rules.property_table", "rules.access_string", "runtime.scope"):
            assert modules[name].__file__ == str(ROOT / "src" / "handler" / f"{name.replace('.', '/')}.py")


def test_a_parameter_the_template_gains_later_takes_its_default_or_the_value_given(
    monkeypatch: pytest.MonkeyPatch, synth: Synth
) -> None:
    import copy

    from cdk_elasticache_user import provider as module

    grown = copy.deepcopy(template())
    grown["Parameters"]["NewSetting"] = {"Type": "String", "Default": "one", "AllowedValues": ["one", "two"]}
    variables = grown["Resources"]["ElastiCacheUserFunction"]["Properties"]["Environment"]["Variables"]
    variables["NEW_SETTING"] = {"Ref": "NewSetting"}
    monkeypatch.setattr(module, "template", lambda: grown)

    def setting(**options: Any) -> Any:
        stack = new_stack("Provider")
        ElastiCacheUserProvider(stack, "Provider", **options)
        synthesized = synth(stack).to_json()
        assert set(synthesized["Parameters"]) == {"BootstrapVersion"}
        return synthesized["Resources"]["ElastiCacheUserFunction"]["Properties"]["Environment"]["Variables"][
            "NEW_SETTING"
        ]

    assert setting() == "one"
    assert setting(parameters={"NewSetting": "two"}) == "two"
    with pytest.raises(ValueError, match=re.escape("parameters['NewSetting'] must be one of one, two (got 'three')")):
        setting(parameters={"NewSetting": "three"})
    with pytest.raises(ValueError, match="'UserIdPrefix' is no other parameter"):
        setting(parameters={"UserIdPrefix": "app-"})


def test_the_rules_the_library_loads_need_nothing_beyond_the_standard_library() -> None:
    """A wheel of the library depends on aws-cdk-lib, constructs and PyYAML only: the handler
    modules it loads (and what they import, at any depth) may import no other package, except
    for type annotations (`if TYPE_CHECKING:`)."""
    import ast
    import sys

    from cdk_elasticache_user._sources import RULE_MODULES, handler_path

    folder = handler_path()
    handler_modules = {".".join(path.relative_to(folder).with_suffix("").parts) for path in folder.glob("*/*.py")}

    def imported(module: str) -> set[str]:
        tree = ast.parse((folder / f"{module.replace('.', '/')}.py").read_text())
        skipped = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        names = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                inner = {f"{node.module}.{alias.name}" for alias in node.names} & handler_modules
                names |= inner or {node.module}
        return {name if name in handler_modules else name.split(".")[0] for name in names}

    seen: set[str] = set()
    pending = set(RULE_MODULES)
    outside: dict[str, set[str]] = {}
    while pending:
        module = pending.pop()
        seen.add(module)
        names = imported(module)
        pending |= (names & handler_modules) - seen
        foreign = names - handler_modules - set(sys.stdlib_module_names)
        if foreign:
            outside[module] = foreign
    assert not outside, outside
    assert {"rules.properties", "runtime.exceptions", "runtime.scope", "rules.access_string"} <= seen


@pytest.mark.parametrize("runtime_matches", [True, False])
def test_the_local_bundling_ships_the_models_and_bytecode_for_the_runtime_only(
    tmp_path: Path, runtime_matches: bool
) -> None:
    source, output = tmp_path / "handler", tmp_path / "asset"
    models = source / "runtime" / "models" / "cloudformation" / "2010-05-15"
    models.mkdir(parents=True)
    (models / "service-2.json").write_text("{}")
    (source / "runtime" / "__init__.py").write_text("")
    (source / "provider").mkdir()
    (source / "provider" / "__init__.py").write_text("")
    (source / "requirements.txt").write_text("# nothing to install: pip stays offline\n")
    (source / "provider" / "app.py").write_text("ANSWER = 42\n")
    output.mkdir()
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    PipBundling(source, "arm64", here if runtime_matches else "3.9").try_bundle(str(output))

    assert (output / "runtime" / "models" / "cloudformation" / "2010-05-15" / "service-2.json").read_text() == "{}"
    compiled = list((output / "provider" / "__pycache__").glob("app.*.pyc"))
    assert len(compiled) == (1 if runtime_matches else 0)
    if compiled:  # unchecked-hash: flags 0b01 (hash-based, not checked), so no timestamp is compared
        assert int.from_bytes(compiled[0].read_bytes()[4:8], "little") == 0b01
