"""UserGroupIds: a user joins and leaves existing user groups by itself, one group per
call, each change read back; busy groups are waited out; deletes answer once its groups are
active again; errors name the group. Against the fake's user-group model (tests/test_fake.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from provider.cfn_resource import UserResource
from runtime.config import Settings
from tests.conftest import OWNER, Invoke, in_parallel, load_event, stored_poll, with_properties


def create(receiver: Receiver, groups: list[str], **changes: Any) -> dict[str, Any]:
    return with_properties(load_event("create.json", receiver), UserGroupIds=groups, **changes)


def update(receiver: Receiver, old: list[str], new: list[str], **changes: Any) -> dict[str, Any]:
    event = load_event("update.json", receiver)
    event = with_properties({**event, "ResourceProperties": event["OldResourceProperties"]}, UserGroupIds=new)
    event["OldResourceProperties"] = {**event["OldResourceProperties"], "UserGroupIds": old}
    return with_properties(event, **changes)


def member(fake: FakeElastiCache, group: str, user: str = "app-user-1") -> bool:
    return user in fake.groups[group].user_ids


def owned(fake: FakeElastiCache, groups: tuple[str, ...] = ()) -> None:
    fake.add_user("app-user-1", access_string="on ~app:* +@read +@write", tags={**OWNER, "team": "payments"})
    for group in groups:
        fake.groups[group].user_ids.append("app-user-1")
        fake.users["app-user-1"].user_group_ids.append(group)


def modify_group_calls(fake: FakeElastiCache) -> list[dict[str, str]]:
    return [params for action, params in fake.calls if action == "ModifyUserGroup"]


def test_create_joins_each_group_in_its_own_call_and_answers_once_they_list_it(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("orders", engine="valkey")
    fake.add_group("cart")
    [answer] = invoke(create(receiver, ["Orders", "cart"]))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert member(fake, "orders") and member(fake, "cart")
    assert [p.get("UserIdsToAdd.member.1") for p in modify_group_calls(fake)] == ["app-user-1", "app-user-1"]
    assert [p["UserGroupId"] for p in modify_group_calls(fake)] == ["orders", "cart"]
    assert answer.body["Data"]["UserGroupIds"] == "orders,cart"
    assert all(fake.groups[g].status == "active" for g in ("orders", "cart"))


def test_update_joins_new_groups_and_leaves_dropped_ones(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    for group in ("a", "b", "c"):
        fake.add_group(group)
    owned(fake, ("a", "b"))
    [answer] = invoke(update(receiver, ["a", "b"], ["b", "c"]))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert not member(fake, "a") and member(fake, "b") and member(fake, "c")
    calls = [(p["UserGroupId"], "add" if "UserIdsToAdd.member.1" in p else "remove") for p in modify_group_calls(fake)]
    assert calls == [("c", "add"), ("a", "remove")]  # joined before it leaves
    assert answer.body["Data"]["UserGroupIds"] == "b,c"


def test_leaving_a_group_it_already_left_costs_no_addition(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("gone-from")
    fake.add_group("joining")
    owned(fake)  # removed from 'gone-from' by hand already
    [answer] = invoke(update(receiver, ["gone-from"], ["joining"]))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert member(fake, "joining") and fake.refused.get("InvalidParameterValue", 0) == 0
    assert [p["UserGroupId"] for p in modify_group_calls(fake)] == ["joining"]


def test_busy_groups_are_waited_out(fake: FakeElastiCache, receiver: Receiver) -> None:
    # Two users join one group at once (terraform-provider-aws #28688): the second change meets
    # a modifying group. The read lag makes that certain: the second reads the group still
    # active, then is refused. 1.5 s + 1 s: the two requests start that close even on a loaded
    # 2-core machine (0.5 s + 0.3 s missed there once in a run of the whole suite).
    fake.add_group("shared")
    fake.group_modify_seconds = 1.5
    fake.read_lag_seconds = 1.0
    first = create(receiver, ["shared"])
    second = create(receiver, ["shared"], UserId="app-user-2", UserName="app-user-2")
    second = {**second, "RequestId": "second", "ResponseURL": receiver.url("second")}
    in_parallel(first, second)
    answers = receiver.wait_for(2)
    assert [a.body["Status"] for a in answers] == ["SUCCESS", "SUCCESS"], [a.body["Reason"] for a in answers]
    assert member(fake, "shared") and member(fake, "shared", "app-user-2")
    assert fake.refused.get("InvalidUserGroupState", 0) >= 1


def test_a_long_group_change_is_handed_over_and_finished_by_a_poll(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("slow")
    fake.group_modify_seconds = 2.0
    assert invoke(create(receiver, ["slow"]), timeout=3.0) == []
    poll = json.loads(stored_poll()[1])
    assert poll["ElastiCacheUserPoll"]["resume"]["join"] == ["slow"]
    [answer] = invoke(poll, timeout=10.0)  # the group is still modifying: the poll waits for it
    assert answer.body["Status"] == "SUCCESS" and member(fake, "slow")
    assert len(modify_group_calls(fake)) == 1  # the poll read back the change; it did not repeat it


@pytest.mark.parametrize(
    ("groups", "changes", "expected"),
    [
        (["missing"], {}, "User group 'missing' (in UserGroupIds of user 'app-user-1') does not exist"),
        (
            ["vk"],
            {"Passwords": None, "NoPasswordRequired": "true"},
            "User group 'vk' is a valkey group, which takes only users with password or IAM",
        ),
    ],
)
def test_group_errors_name_the_group_and_leave_no_user(
    groups: list[str], changes: dict[str, Any], expected: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("vk", engine="valkey")
    [answer] = invoke(create(receiver, groups, **changes))
    assert answer.body["Status"] == "FAILED" and expected in answer.body["Reason"]
    assert "CreateUser" not in fake.actions() and "app-user-1" not in fake.users
    rollback = load_event("delete.json", receiver, PhysicalResourceId=answer.body["PhysicalResourceId"])
    assert invoke(rollback)[-1].body["Status"] == "SUCCESS"


def test_a_failing_join_after_creation_removes_the_user(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("ok")
    fake.add_group("denied")
    fake.denied.add(("ModifyUserGroup", "denied"))  # the provider's IAM policy may read it, not change it
    ok_then_denied = create(receiver, ["ok", "denied"])
    [answer] = invoke(ok_then_denied)
    reason = answer.body["Reason"]
    assert answer.body["Status"] == "FAILED" and "user group 'denied'" in reason and "UserGroupIdPrefix" in reason
    assert not member(fake, "ok")  # its join was undone
    assert "app-user-1" in fake.gone_at and not answer.body["PhysicalResourceId"].startswith("app-user")


def test_an_update_failing_on_a_group_changes_nothing(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("a")
    owned(fake, ("a",))
    event = update(receiver, ["a"], ["a", "missing"], AccessString="on ~other:* +@read")
    [answer] = invoke(event)
    assert answer.body["Status"] == "FAILED" and "'missing'" in answer.body["Reason"]
    assert "ModifyUser" not in fake.actions() and "ModifyUserGroup" not in fake.actions()
    assert fake.users["app-user-1"].access_string == "on ~app:* +@read +@write"


def test_delete_answers_once_the_groups_are_active_again(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("orders")
    fake.add_group("cart")
    owned(fake, ("orders", "cart"))
    fake.delete_seconds, fake.group_modify_seconds = 0.3, 0.8
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    active_at = fake.gone_at["app-user-1"] + 0.8
    assert answer.at >= active_at
    assert not member(fake, "orders") and all(fake.groups[g].status == "active" for g in ("orders", "cart"))


def test_replacement_joins_the_groups_before_the_old_user_is_deleted(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("orders")
    owned(fake, ("orders",))
    event = with_properties(load_event("update-replace.json", receiver), UserGroupIds=["orders"])
    event["OldResourceProperties"] = {**event["OldResourceProperties"], "UserGroupIds": ["orders"]}
    [answer] = invoke(event)
    assert answer.body["PhysicalResourceId"] == "app-user-2" and answer.body["Data"]["UserGroupIds"] == "orders"
    assert member(fake, "orders", "app-user-2") and member(fake, "orders", "app-user-1")
    cleanup = load_event("delete.json", receiver, PhysicalResourceId="app-user-1")
    assert invoke(cleanup)[-1].body["Status"] == "SUCCESS"
    assert fake.groups["orders"].user_ids == ["orders-default", "app-user-2"]


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("orders", "UserGroupIds must be a list"),
        (["orders", "ORDERS"], "UserGroupIds[1]: the group 'orders' appears twice"),
        (["9orders"], "UserGroupIds[0] must start with a letter"),
        (["g_1"], "UserGroupIds[0] must start with a letter"),
    ],
)
def test_invalid_group_ids_fail_before_any_call(
    groups: object, expected: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    [answer] = invoke(with_properties(load_event("create.json", receiver), UserGroupIds=groups))
    assert answer.body["Status"] == "FAILED" and expected in answer.body["Reason"] and fake.calls == []


def test_group_outside_the_prefix_is_refused(fake: FakeElastiCache, receiver: Receiver) -> None:

    settings = Settings.from_environment()
    settings = settings._replace(scope=settings.scope._replace(user_group_id_prefix="app-"))
    UserResource(settings).handle(create(receiver, ["orders"]), LambdaContext(30))
    [answer] = receiver.wait_for(1)
    assert answer.body["Status"] == "FAILED" and "UserGroupIdPrefix" in answer.body["Reason"] and fake.calls == []


def test_an_update_failing_after_a_group_change_puts_the_groups_back(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("a")
    fake.add_group("b")
    owned(fake, ("a",))
    fake.faults = [("ModifyUser", "InvalidParameterValue")]
    [answer] = invoke(update(receiver, ["a"], ["b"], AccessString="on ~other:* +@read"))
    assert answer.body["Status"] == "FAILED" and "refused by ElastiCache as invalid" in answer.body["Reason"]
    assert member(fake, "a") and not member(fake, "b")  # joined b, left a, then both undone


def test_the_groups_default_user_cannot_leave(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    fake.add_group("solo")
    fake.groups["solo"].user_ids.remove("solo-default")
    fake.add_user("app-user-1", user_name="app-user-1", tags={**OWNER, "team": "payments"})
    fake.users["app-user-1"].user_name = "default"
    fake.groups["solo"].user_ids.append("app-user-1")
    fake.users["app-user-1"].user_group_ids.append("solo")
    [answer] = invoke(update(receiver, ["solo"], []))
    reason = answer.body["Reason"]
    assert answer.body["Status"] == "FAILED" and "'solo' must keep a user named 'default'" in reason
    assert member(fake, "solo")


def test_a_delete_handed_over_still_waits_for_the_groups(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("orders")
    owned(fake, ("orders",))
    fake.delete_seconds, fake.group_modify_seconds = 2.0, 1.5
    assert invoke(load_event("delete.json", receiver), timeout=3.0) == []
    poll = json.loads(stored_poll()[1])
    assert poll["ElastiCacheUserPoll"]["resume"]["groups"] == ["orders"]
    assert fake.wait_until(lambda fake: "app-user-1" not in fake.users)  # its group still modifying
    [answer] = invoke(poll, timeout=10.0)
    assert answer.body["Status"] == "SUCCESS" and answer.at >= fake.group_active_at["orders"]
