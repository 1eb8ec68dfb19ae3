"""A replacement that keeps its UserName in the same user group. A group is one engine ACL keyed
by user name: ModifyUserGroup answers DuplicateUserName while the old user is still a member
(botocore model). The new user and the old one are swapped in one call, and swapped back when
the replacement fails or CloudFormation rolls it back."""

from __future__ import annotations

from typing import Any

from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from tests.conftest import OWNER, Invoke, load_event, with_properties

NAME = "app-user-1"  # the UserName both users keep


def replacement(receiver: Receiver, **changes: Any) -> dict[str, Any]:
    """app-user-1 replaced by app-user-2 with the same UserName, both in group orders."""
    event = with_properties(load_event("update-replace.json", receiver), UserName=NAME, UserGroupIds=["orders"])
    event["OldResourceProperties"] = {**event["OldResourceProperties"], "UserGroupIds": ["orders"]}
    return with_properties(event, **changes)


def members(fake: FakeElastiCache) -> list[str]:
    assert fake.wait_until(lambda f: f.groups["orders"].status == "active")
    return fake.groups["orders"].user_ids


def swaps(fake: FakeElastiCache) -> list[tuple[str, str]]:
    """The ModifyUserGroup calls that added one user and removed another: (added, removed)."""
    return [
        (p["UserIdsToAdd.member.1"], p["UserIdsToRemove.member.1"])
        for a, p in fake.calls
        if a == "ModifyUserGroup" and "UserIdsToAdd.member.1" in p and "UserIdsToRemove.member.1" in p
    ]


def scene(fake: FakeElastiCache) -> None:
    fake.add_user("app-user-1", access_string="on ~app:* +@read +@write", tags={**OWNER, "team": "payments"})
    fake.add_group("orders", members=("app-user-1",))


def test_the_new_user_takes_the_old_ones_place_and_keeps_it_after_the_cleanup(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    scene(fake)
    [answer] = invoke(replacement(receiver))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert answer.body["PhysicalResourceId"] == "app-user-2"
    assert swaps(fake) == [("app-user-2", "app-user-1")]  # one call: the name is never missing
    assert members(fake) == ["orders-default", "app-user-2"]
    cleanup = load_event("delete.json", receiver, PhysicalResourceId="app-user-1")
    assert invoke(cleanup)[-1].body["Status"] == "SUCCESS"
    assert "app-user-1" not in fake.users and members(fake) == ["orders-default", "app-user-2"]


def test_a_rollback_swaps_the_old_user_back(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    scene(fake)
    forward = replacement(receiver)
    assert invoke(forward)[-1].body["Status"] == "SUCCESS"
    # A later resource fails: CloudFormation updates back to the old properties, then deletes the new user.
    back = load_event("update.json", receiver, RequestId="rollback", PhysicalResourceId="app-user-2")
    back.update(
        ResourceProperties=forward["OldResourceProperties"], OldResourceProperties=forward["ResourceProperties"]
    )
    back["ResponseURL"] = receiver.url("rollback")
    answer = invoke(back)[-1]
    assert answer.body["Status"] == "SUCCESS" and answer.body["PhysicalResourceId"] == "app-user-1"
    assert swaps(fake) == [("app-user-2", "app-user-1"), ("app-user-1", "app-user-2")]
    cleanup = load_event("delete.json", receiver, PhysicalResourceId="app-user-2")
    assert invoke(cleanup)[-1].body["Status"] == "SUCCESS"
    assert members(fake) == ["orders-default", "app-user-1"] and "app-user-2" not in fake.users


def test_a_replacement_that_fails_after_the_swap_swaps_back(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    scene(fake)
    fake.add_group("cart")
    # The plain add (DuplicateUserName) and the swap go through; cart then refuses the new user.
    fake.faults = [
        ("ModifyUserGroup", "pass"),
        ("ModifyUserGroup", "pass"),
        ("ModifyUserGroup", "InvalidParameterValue"),
    ]
    [answer] = invoke(replacement(receiver, UserGroupIds=["orders", "cart"]))
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == "app-user-1"
    assert swaps(fake) == [("app-user-2", "app-user-1"), ("app-user-1", "app-user-2")]
    assert members(fake) == ["orders-default", "app-user-1"] and "app-user-2" not in fake.users
