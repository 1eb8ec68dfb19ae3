"""members_from: the tag a user group's owner gives the group so that users of the named
stacks may join it through the provider (docs/sharing.md), checked at synth."""

from __future__ import annotations

import pytest
from aws_cdk import aws_elasticache as elasticache
from aws_cdk.assertions import Template
from conftest import new_stack

from cdk_elasticache_user import ALL_STACKS, CONSENT_TAG, members_from


def test_a_group_owner_admits_stacks_by_name_prefix() -> None:
    stack = new_stack("Platform")
    elasticache.CfnUserGroup(
        stack,
        "Readers",
        user_group_id="app-readers",
        engine="valkey",
        user_ids=["d"],
        tags=[members_from("app-", "Billing")],
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::ElastiCache::UserGroup",
        {"Tags": [{"Key": "elasticache-user-resource:members-from", "Value": "app- Billing"}]},
    )
    assert CONSENT_TAG == "elasticache-user-resource:members-from"
    assert members_from(ALL_STACKS).value == ":all"


@pytest.mark.parametrize(
    ("prefixes", "says"),
    [
        ((), "name at least one stack name prefix"),
        (("app-*",), "'app-*' is no stack name prefix"),
        (("app-", ":all"), "':all' is no stack name prefix"),
        (("1app",), "'1app' is no stack name prefix"),
        (("a" * 128, "b" * 128), "257 characters"),
    ],
)
def test_a_value_that_would_admit_no_stack_is_refused_at_synth(prefixes: tuple[str, ...], says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("*", r"\*")):
        members_from(*prefixes)
