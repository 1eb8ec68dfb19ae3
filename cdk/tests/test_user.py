"""ElastiCacheUser: the properties template.yaml users write, attributes, grants, rotation."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from aws_cdk.assertions import Annotations, Match
from conftest import Synth

from cdk_elasticache_user import ElastiCacheUser, ElastiCacheUserProvider
from cdk_elasticache_user._sources import handler_rules
from cdk_elasticache_user.user import ATTRIBUTE_NAMES

USER = "Custom::ElastiCacheUser"
PASSWORD = "Correct-Horse-Battery-1"
TOKEN = {"Fn::ImportValue": "elasticache-user-provider-ServiceToken"}


def user(stack: cdk.Stack, provider: Any = None, **options: Any) -> ElastiCacheUser:
    provider = provider or ElastiCacheUserProvider.from_export(stack, "Provider")
    defaults: dict[str, Any] = {"user_id": "app-user", "engine": "valkey", "access_string": "on ~app:* +@read"}
    return ElastiCacheUser(stack, "AppUser", provider=provider, **{**defaults, **options})


@pytest.mark.parametrize(
    ("options", "written"),
    [
        ({"passwords": [PASSWORD]}, {"Passwords": [PASSWORD]}),
        ({"iam": True}, {"AuthenticationMode": {"Type": "iam"}}),
        ({"no_password": True, "engine": "redis"}, {"NoPasswordRequired": True}),
    ],
    ids=["passwords", "iam", "no-password"],
)
def test_each_authentication_form_writes_the_property_template_users_write(
    stack: cdk.Stack, synth: Synth, options: dict[str, Any], written: dict[str, Any]
) -> None:
    user(stack, **options)
    engine = options.get("engine", "valkey")
    expected = {"ServiceToken": TOKEN, "UserId": "app-user", "UserName": "app-user", "Engine": engine}
    synth(stack).has_resource_properties(USER, Match.exact({**expected, "AccessString": "on ~app:* +@read", **written}))


def test_a_secret_under_the_prefix_is_named_by_its_arn_and_needs_no_grant(stack: cdk.Stack, synth: Synth) -> None:
    secret = secretsmanager.Secret(stack, "Secret", secret_name="elasticache/app-user")
    provider = ElastiCacheUserProvider(stack, "Users")
    user(stack, provider, password_secret=secret)
    result = synth(stack)
    result.has_resource_properties(USER, {"PasswordSecretId": {"Ref": Match.string_like_regexp("^Secret")}})
    result.resource_count_is("AWS::IAM::Policy", 0)


def test_a_secret_outside_the_prefix_is_granted_to_the_deployed_providers_role(stack: cdk.Stack, synth: Synth) -> None:
    secret = secretsmanager.Secret(stack, "Secret")  # a generated name: outside elasticache/
    provider = ElastiCacheUserProvider(stack, "Users")
    user(stack, provider, password_secret=secret)
    result = synth(stack)
    result.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": "ElastiCacheUserRole"}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                                "Resource": {"Ref": Match.string_like_regexp("^Secret")},
                            }
                        )
                    ]
                )
            },
        },
    )
    policy = next(iter(result.find_resources("AWS::IAM::Policy")))
    result.has_resource(USER, {"DependsOn": Match.array_with([policy])})


def test_an_imported_provider_cannot_be_granted_and_the_synth_says_so(stack: cdk.Stack, synth: Synth) -> None:
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "Secret", "team/app-user")
    user(stack, password_secret=secret)
    synth(stack).resource_count_is("AWS::IAM::Policy", 0)
    Annotations.from_stack(stack).has_warning(
        "/Application/AppUser", Match.string_like_regexp("The provider was imported, so this library cannot grant")
    )


def test_an_imported_provider_with_a_secret_under_its_prefix_is_named_and_rotated_by_name_without_warning(
    stack: cdk.Stack, synth: Synth
) -> None:
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "Secret", "elasticache/app-user")
    user(stack, password_secret=secret).rotate()
    result = synth(stack)
    result.has_resource_properties(USER, {"PasswordSecretId": "elasticache/app-user"})
    result.has_resource_properties("AWS::SecretsManager::RotationSchedule", {"SecretId": "elasticache/app-user"})
    Annotations.from_stack(stack).has_no_warning("*", Match.any_value())


def test_a_parameter_outside_the_prefix_is_granted(stack: cdk.Stack, synth: Synth) -> None:
    parameter = ssm.StringParameter.from_secure_string_parameter_attributes(
        stack, "Parameter", parameter_name="/other/app-user"
    )
    user(stack, ElastiCacheUserProvider(stack, "Users"), password_parameter=parameter)
    result = synth(stack)
    result.has_resource_properties(USER, {"PasswordParameterName": "/other/app-user"})
    result.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with([Match.object_like({"Action": Match.array_with(["ssm:GetParameter"])})])
            }
        },
    )


def test_groups_tags_adoption_and_service_timeout(stack: cdk.Stack, synth: Synth) -> None:
    user(
        stack,
        ElastiCacheUserProvider(stack, "Users", allow_adoption=True),
        iam=True,
        user_group_ids=["app-readers", "app-writers"],
        tags={"team": "payments", "env": "prod"},
        adopt_existing_user=True,
        service_timeout=cdk.Duration.minutes(30),
    )
    synth(stack).has_resource_properties(
        USER,
        {
            "UserGroupIds": ["app-readers", "app-writers"],
            "Tags": [{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "prod"}],
            "AdoptExistingUser": True,
            "ServiceTimeout": "1800",
        },
    )


def test_every_attribute_is_its_fn_getatt(stack: cdk.Stack) -> None:
    made = user(stack, iam=True)
    with handler_rules() as modules:
        assert set(ATTRIBUTE_NAMES) == {a.name for a in modules["rules.property_table"].ATTRIBUTES}
    for attribute, name in ATTRIBUTE_NAMES.items():
        assert stack.resolve(getattr(made, name)) == {"Fn::GetAtt": ["AppUser56EEC556", attribute]}


def test_rotate_schedules_the_providers_rotation_function_after_the_user(stack: cdk.Stack, synth: Synth) -> None:
    secret = secretsmanager.Secret(stack, "Secret", secret_name="elasticache/app-user")
    made = user(stack, password_secret=secret)
    made.rotate(after=cdk.Duration.days(30))
    result = synth(stack)
    result.has_resource(
        "AWS::SecretsManager::RotationSchedule",
        {
            "Properties": {
                "SecretId": {"Ref": Match.string_like_regexp("^Secret")},
                "RotationLambdaARN": {"Fn::ImportValue": "elasticache-user-provider-RotationLambdaArn"},
                "RotationRules": {"ScheduleExpression": "rate(30 days)"},
            },
            "DependsOn": ["AppUser56EEC556"],
        },
    )


def test_rotate_outside_the_prefix_lets_the_deployed_rotation_role_change_the_secret(
    stack: cdk.Stack, synth: Synth
) -> None:
    secret = secretsmanager.Secret(stack, "Secret")
    user(stack, ElastiCacheUserProvider(stack, "Users"), password_secret=secret).rotate(after=cdk.Duration.hours(12))
    result = synth(stack)
    result.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule", {"RotationRules": {"ScheduleExpression": "rate(12 hours)"}}
    )
    result.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": "RotationRole"}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": Match.array_with(["secretsmanager:UpdateSecretVersionStage"])})]
                )
            },
        },
    )


def test_rotate_needs_a_secret_a_rotation_function_and_a_schedule_secrets_manager_takes(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match="rotate\\(\\) needs a user declared with password_secret"):
        user(stack, iam=True).rotate()
    other = cdk.Stack(stack.node.root, "Other")  # type: ignore[arg-type]
    secret = secretsmanager.Secret(other, "Secret", secret_name="elasticache/a")
    provider = ElastiCacheUserProvider.from_service_token(other, "Provider", "arn:aws:lambda:us-east-1:1:function:f")
    with pytest.raises(ValueError, match="needs the provider's rotation function"):
        user(other, provider, password_secret=secret).rotate()
    third = cdk.Stack(stack.node.root, "Third")  # type: ignore[arg-type]
    secret = secretsmanager.Secret(third, "Secret", secret_name="elasticache/a")
    with pytest.raises(ValueError, match="whole days"):
        user(third, password_secret=secret).rotate(after=cdk.Duration.hours(2))


def test_service_timeout_outside_cloudformations_bounds_raises(stack: cdk.Stack) -> None:
    with pytest.raises(RuntimeError, match="serviceTimeout must either be between 1 and 3600 seconds"):
        user(stack, iam=True, service_timeout=cdk.Duration.hours(2))


def test_a_user_in_another_stack_than_the_deployed_provider_keeps_its_grant_in_its_own_stack(synth: Synth) -> None:
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    providers, application = cdk.Stack(app, "Providers"), cdk.Stack(app, "Application")
    provider = ElastiCacheUserProvider(providers, "Users")
    user(application, provider, password_secret=secretsmanager.Secret(application, "Secret"))
    synth(providers).resource_count_is("AWS::IAM::Policy", 0)
    synth(application).has_resource_properties(
        "AWS::IAM::Policy", {"Roles": [{"Fn::ImportValue": Match.string_like_regexp("^Providers:ExportsOutputRef")}]}
    )
    assert [s.stack_name for s in application.dependencies] == ["Providers"]


ROTATION_ACTIONS = {
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
}


def test_a_secret_imported_by_name_outside_the_prefix_is_rotated_under_any_arn_suffix(
    stack: cdk.Stack, synth: Synth
) -> None:
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "Secret", "team/app-user")
    user(stack, ElastiCacheUserProvider(stack, "Users"), password_secret=secret).rotate()
    policies = synth(stack).find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": "RotationRole"}]}})
    (policy,) = policies.values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert ROTATION_ACTIONS <= {action for s in statements for action in s["Action"]}
    for statement in statements:
        assert statement["Resource"]["Fn::Join"][1][-1] == ":secret:team/app-user-??????"
