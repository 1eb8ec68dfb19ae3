"""A group owner's consent: a user joins a user group only when the group's tag
`elasticache-user-resource:members-from` admits the requesting stack (docs/sharing.md). What
CloudFormation is answered and what ElastiCache is asked, against the fake's user groups, which
carry their owners' tags as ElastiCache does (the tests' stack is app-stack)."""

from __future__ import annotations

import pytest

from elasticache.consent import verdict
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.fake_state import GROUP_ARN_PREFIX
from local.receiver import Receiver
from provider.cfn_resource import UserResource
from runtime.config import Settings
from tests.conftest import CONSENT_TAG, Invoke
from tests.test_attacks import ORDERS_OWNER
from tests.test_groups import create, member, modify_group_calls, owned, update

CHANGES = ("CreateUser", "ModifyUser", "ModifyUserGroup", "AddTagsToResource", "RemoveTagsFromResource")


def group_tag_reads(fake: FakeElastiCache) -> list[str]:
    return [
        p["ResourceName"].removeprefix(GROUP_ARN_PREFIX)
        for action, p in fake.calls
        if action == "ListTagsForResource" and p["ResourceName"].startswith(GROUP_ARN_PREFIX)
    ]


def changes(fake: FakeElastiCache) -> list[str]:
    return [action for action, _ in fake.calls if action in CHANGES]


@pytest.mark.parametrize(
    ("value", "admitted"),
    [
        (None, False),
        ("", False),
        ("app-", True),
        ("app-stack", True),
        ("orders- app-", True),
        ("  orders-   app-stack  ", True),
        (":all", True),
        ("orders-", False),
        ("app-stack-2", False),  # a prefix of the stack's name, not the other way round
        ("App-", False),  # stack names are case-sensitive
        (":all orders-", False),  # ':all' is the single entry, or nothing
        ("*", False),
    ],
)
def test_the_verdict_reads_prefixes_and_all(value: str | None, admitted: bool) -> None:
    tags = {} if value is None else {CONSENT_TAG: value}
    found = verdict("orders", tags, "app-stack")
    assert found.admitted is admitted
    if not admitted:
        assert "'orders'" in found.reason and CONSENT_TAG in found.reason and "'app-stack'" in found.reason
        assert "owner must add 'app-stack'" in found.reason


@pytest.mark.parametrize(
    ("tags", "says"),
    [
        ({}, "does not carry the tag"),
        ({"team": "orders"}, "does not carry the tag"),
        ({CONSENT_TAG: "orders- billing-"}, "('orders- billing-'), and stack 'app-stack' starts with none of them"),
    ],
)
def test_a_create_joining_a_group_without_consent_fails_before_create_user(
    tags: dict[str, str], says: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("cart")
    fake.add_group("orders", tags=tags)
    [answer] = invoke(create(receiver, ["cart", "orders"]))
    assert answer.body["Status"] == "FAILED"
    reason = answer.body["Reason"]
    assert "User group 'orders'" in reason and CONSENT_TAG in reason and says in reason
    assert "The group's owner must add 'app-stack'" in reason
    assert answer.body["PhysicalResourceId"].startswith("not-created_")  # the rollback deletes nothing
    assert changes(fake) == [] and "app-user-1" not in fake.users
    assert group_tag_reads(fake) == ["cart", "orders"]


@pytest.mark.parametrize("value", [":all", "orders- app-", "app-stack"])
def test_a_group_whose_tag_admits_the_stack_is_joined(
    value: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("orders", tags={CONSENT_TAG: value})
    [answer] = invoke(create(receiver, ["orders"]))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert member(fake, "orders")


def test_another_teams_group_refuses_a_genuine_template_of_ones_own_stack(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """The review's finding: app-stack declares `UserGroupIds: [orders-group]` with a broad
    access string; the orders team's group admits only orders-* stacks."""
    fake.add_user("orders", tags=dict(ORDERS_OWNER))
    fake.add_group("orders-group", members=("orders",), tags={CONSENT_TAG: "orders-"})
    event = create(receiver, ["orders-group"], AccessString="on ~* +@all")
    [answer] = invoke(event)
    assert answer.body["Status"] == "FAILED" and "User group 'orders-group'" in answer.body["Reason"]
    assert changes(fake) == [] and fake.groups["orders-group"].user_ids == ["orders-group-default", "orders"]


def test_an_update_joining_a_group_without_consent_changes_nothing(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("a")
    fake.add_group("orders", tags={})
    owned(fake, ("a",))
    [answer] = invoke(update(receiver, ["a"], ["orders"], AccessString="on ~* +@all"))
    assert answer.body["Status"] == "FAILED" and "User group 'orders'" in answer.body["Reason"]
    assert answer.body["PhysicalResourceId"] == "app-user-1"
    assert changes(fake) == [] and member(fake, "a") and not member(fake, "orders")


def test_a_membership_kept_and_a_group_left_need_no_consent(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """The owners of 'kept' and 'left' withdrew their consent after the user joined: the user
    stays in 'kept', leaves 'left', and joins 'new' (which consents)."""
    for group in ("kept", "left"):
        fake.add_group(group, tags={})
    fake.add_group("new")
    owned(fake, ("kept", "left"))
    [answer] = invoke(update(receiver, ["kept", "left"], ["kept", "new"]))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert member(fake, "kept") and not member(fake, "left") and member(fake, "new")
    assert group_tag_reads(fake) == ["new"]


def test_an_authentication_change_keeps_unconsented_memberships(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """A change of authentication checks every group the user stays in (a valkey group refuses
    a user without a password) but asks no consent for them: it already is a member."""
    fake.add_group("kept", engine="valkey", tags={})
    owned(fake, ("kept",))
    event = update(receiver, ["kept"], ["kept"], Passwords=["A-new-passw0rd-0123456789"])
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert member(fake, "kept") and group_tag_reads(fake) == [] and modify_group_calls(fake) == []


def test_a_retried_create_of_a_user_already_in_the_group_needs_no_consent(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("kept", tags={})
    owned(fake, ("kept",))
    [answer] = invoke(create(receiver, ["kept"], AccessString="on ~app:* +@read +@write"))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert member(fake, "kept") and group_tag_reads(fake) == []


def test_with_consent_off_any_group_under_the_prefix_is_joined(fake: FakeElastiCache, receiver: Receiver) -> None:
    fake.add_group("orders", tags={})
    settings = Settings.from_environment()
    settings = settings._replace(scope=settings.scope._replace(require_group_consent=False))
    UserResource(settings).handle(create(receiver, ["orders"]), LambdaContext(30))
    [answer] = receiver.wait_for(1)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert member(fake, "orders") and group_tag_reads(fake) == []


def test_the_consent_parameter_is_on_unless_it_says_false(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, on in (("true", True), ("false", False), ("FALSE ", False), ("yes", True)):
        monkeypatch.setenv("REQUIRE_GROUP_CONSENT", value)
        assert Settings.from_environment().scope.require_group_consent is on
    monkeypatch.delenv("REQUIRE_GROUP_CONSENT")
    assert Settings.from_environment().scope.require_group_consent is True


def test_a_group_whose_tags_the_role_may_not_read_is_refused_with_a_remedy(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("orders", tags={CONSENT_TAG: ":all"})
    fake.faults = [("ListTagsForResource", "AccessDenied")]  # as a service control policy would
    [answer] = invoke(create(receiver, ["orders"]))
    assert answer.body["Status"] == "FAILED" and "may not read the tags of user group 'orders'" in answer.body["Reason"]
    assert changes(fake) == []


def test_group_owners_tag_their_groups_as_elasticache_lets_them(fake: FakeElastiCache) -> None:
    """The fake's model of tagging a user group: CreateUserGroup's Tags, ListTagsForResource
    and AddTagsToResource on its ARN (what the owner's stack or console does)."""
    fake.add_user("d", user_name="default", authentication_type="no-password")
    fake.call(
        "CreateUserGroup",
        {"UserGroupId": "orders", "Engine": "redis", "UserIds.member.1": "d"}
        | {"Tags.Tag.1.Key": CONSENT_TAG, "Tags.Tag.1.Value": "orders-"},
    )
    arn = {"ResourceName": GROUP_ARN_PREFIX + "orders"}
    assert CONSENT_TAG in fake.call("ListTagsForResource", arn) and fake.groups["orders"].status == "creating"
    fake.call("AddTagsToResource", arn | {"Tags.Tag.1.Key": CONSENT_TAG, "Tags.Tag.1.Value": "orders- app-"})
    assert fake.groups["orders"].tags == {CONSENT_TAG: "orders- app-"}
    assert fake.tags_of(GROUP_ARN_PREFIX + "orders") == {CONSENT_TAG: "orders- app-"}  # as IAM sees them
