"""A broken property raises at construction, with the reason the provider would answer."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match

from cdk_elasticache_user import ElastiCacheUser, ElastiCacheUserPropertyError, ElastiCacheUserProvider
from cdk_elasticache_user._sources import handler_rules

BASE = {"UserId": "app-user", "UserName": "app-user", "Engine": "valkey", "AccessString": "on ~app:* +@read"}


def provider_answer(properties: dict[str, Any]) -> str:
    """The reason the provider's own validation gives for these ResourceProperties."""
    with handler_rules() as modules:
        with pytest.raises(modules["runtime.exceptions"].PropertyError) as refused:
            modules["rules.properties"].parse_properties({"ServiceToken": "arn", **properties})
    return str(refused.value)


def build(stack: cdk.Stack, provider: Any = None, **options: Any) -> ElastiCacheUser:
    provider = provider or ElastiCacheUserProvider.from_export(stack, "Provider")
    defaults: dict[str, Any] = {"user_id": "app-user", "engine": "valkey", "access_string": "on ~app:* +@read"}
    return ElastiCacheUser(stack, "AppUser", provider=provider, **{**defaults, **options})


@pytest.mark.parametrize(
    ("options", "properties", "names"),
    [
        (
            {"access_string": "on ~app:* +@reads", "iam": True},
            {**BASE, "AccessString": "on ~app:* +@reads", "AuthenticationMode": {"Type": "iam"}},
            "AccessString",
        ),
        ({"passwords": ["too-short"]}, {**BASE, "Passwords": ["too-short"]}, "Passwords[0]"),
        (
            {"passwords": ["Correct-Horse-Battery/1"]},
            {**BASE, "Passwords": ["Correct-Horse-Battery/1"]},
            "Passwords[0]",
        ),
        (
            {"passwords": ["Correct-Horse-Battery-1"], "iam": True},
            {**BASE, "Passwords": ["Correct-Horse-Battery-1"], "AuthenticationMode": {"Type": "iam"}},
            "Passwords, AuthenticationMode",
        ),
        ({}, BASE, "(got none)"),
        (
            {"user_id": "app_user", "iam": True},
            {**BASE, "UserId": "app_user", "AuthenticationMode": {"Type": "iam"}},
            "UserId",
        ),
        (
            {"no_password": True},
            {**BASE, "NoPasswordRequired": True},
            "Valkey users cannot be no-password users",
        ),
        (
            {"iam": True, "tags": {"aws:team": "x"}},
            {**BASE, "AuthenticationMode": {"Type": "iam"}, "Tags": [{"Key": "aws:team", "Value": "x"}]},
            "Tags[0]",
        ),
    ],
    ids=[
        "access-string",
        "short-password",
        "password-slash",
        "two-authentications",
        "none",
        "user-id",
        "valkey-nopass",
        "tag",
    ],
)
def test_a_broken_property_raises_the_providers_own_reason(
    stack: cdk.Stack, options: dict[str, Any], properties: dict[str, Any], names: str
) -> None:
    reason = provider_answer(properties)
    assert names in reason
    with pytest.raises(ElastiCacheUserPropertyError) as raised:
        build(stack, **options)
    assert raised.value.reason == reason
    assert str(raised.value) == f"{reason} (ElastiCacheUser Application/AppUser)"


def test_tokens_are_left_to_deploy_time_and_the_literal_rest_is_still_checked(stack: cdk.Stack) -> None:
    user_id = cdk.Fn.import_value("app-user-id")
    build(stack, user_id=user_id, user_name="app-user", iam=True, user_group_ids=cdk.Fn.split(",", "a,b"))
    other = cdk.Stack(stack.node.root, "Other")  # type: ignore[arg-type]
    with pytest.raises(ElastiCacheUserPropertyError, match="AccessString"):
        build(other, user_id=user_id, access_string="on +gett", passwords=[cdk.Fn.import_value("password")])


def test_a_secret_by_reference_passes(stack: cdk.Stack) -> None:
    build(stack, password_secret=secretsmanager.Secret(stack, "Secret"))


def test_a_deployed_provider_refuses_at_synth_what_its_stack_parameters_refuse() -> None:
    def refused(**options: Any) -> str:
        stack = cdk.Stack(cdk.App(context={"aws:cdk:bundling-stacks": []}), "Application")
        provider = ElastiCacheUserProvider(stack, "Users", user_id_prefix="app-", user_group_id_prefix="app-")
        with pytest.raises(ElastiCacheUserPropertyError) as raised:
            build(stack, provider, iam=True, **options)
        return str(raised.value.reason)

    with handler_rules() as modules:
        scope = modules["runtime.scope"].Scope(user_id_prefix="app-", user_group_id_prefix="app-")
        assert refused(user_id="web-user") == scope.refusal("web-user", (), False)
        assert refused(user_group_ids=["web-readers"]) == scope.refusal("app-user", ("web-readers",), False)
        assert refused(adopt_existing_user=True) == scope.refusal("app-user", (), True)


def test_access_strings_that_work_but_probably_not_as_meant_warn_as_lint_rule_w9102_does(stack: cdk.Stack) -> None:
    build(stack, engine="redis", access_string="~app:* +@read %R~logs:*", iam=True)
    with handler_rules() as modules:
        expected = [f.describe() for f in modules["rules.access_string"].analyse("~app:* +@read %R~logs:*").warnings]
    assert any("neither 'on' nor 'off'" in text for text in expected)
    warnings = Annotations.from_stack(stack).find_warning("/Application/AppUser", Match.any_value())
    texts = [str(w.entry.data).removesuffix(" [ack: cdk-elasticache-user:access-string]") for w in warnings]
    assert texts[: len(expected)] == expected
    assert texts[len(expected) :] == ["AccessString needs Redis OSS 7.0 or later (a 6.0 engine refuses it)."]
