"""Delete: the user is deleted, waited for, and CloudFormation always hears the outcome."""

from __future__ import annotations

import json
import time

import pytest

from local.fake_elasticache import FakeElastiCache
from local.iam_gate import operator_client
from local.receiver import Receiver
from tests.conftest import OWNER, STACK_ID, Invoke, load_event, stored_poll


def owned_user(fake: FakeElastiCache, user_id: str = "app-user-1", **attributes: object) -> None:
    fake.add_user(user_id, tags=dict(OWNER), **attributes)


def test_delete_against_moto_deletes_the_user_and_keeps_the_physical_id(
    poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    client = operator_client("elasticache")
    client.create_user(
        UserId="app-user-1",
        UserName="app-user-1",
        Engine="redis",
        AccessString="on ~* +@all",
        NoPasswordRequired=True,
        Tags=[{"Key": k, "Value": v} for k, v in OWNER.items()],
    )
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS", answer.body
    assert answer.body["PhysicalResourceId"] == "app-user-1"
    assert answer.body["StackId"] == STACK_ID and answer.body["LogicalResourceId"] == "AppUser"
    with pytest.raises(client.exceptions.UserNotFoundFault):
        client.describe_users(UserId="app-user-1")


def test_timed_deletion_is_answered_only_once_the_user_is_gone(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.delete_seconds = 1.0
    owned_user(fake)
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "app-user-1"
    assert answer.at >= fake.gone_at["app-user-1"]
    assert fake.count("DeleteUser") == 1
    # Polls are spread out: with the test schedule (0.05 s growing to 0.2 s) about 8 in 1 s.
    assert 3 <= fake.count("DescribeUsers") <= 15


def test_missing_user_is_already_deleted(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert "DeleteUser" not in fake.actions()


@pytest.mark.parametrize(
    "physical_id", ["app-stack_AppUser_ABCD1234", "not-created_AppUser_x", "9starts-with-digit", "a" * 41, ""]
)
def test_physical_id_that_cannot_be_a_user_id_calls_nothing(
    physical_id: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    [answer] = invoke(load_event("delete.json", receiver, PhysicalResourceId=physical_id))
    assert answer.body["Status"] == "SUCCESS"
    assert fake.calls == []


def test_modifying_user_is_waited_for_then_deleted(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    owned_user(fake)
    fake.hold("app-user-1", "modifying", 0.6)
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert fake.count("DeleteUser") == 1
    assert "app-user-1" in fake.gone_at


def test_invalid_user_state_from_delete_user_is_retried(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    owned_user(fake)
    fake.faults = [("DeleteUser", "InvalidUserState"), ("DeleteUser", "InvalidUserState")]
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert fake.count("DeleteUser") == 3


def test_deletion_falling_back_to_active_fails_naming_user_and_status(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    owned_user(fake)
    fake.delete_seconds = 0.3
    fake.failing_deletes.add("app-user-1")
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "FAILED"
    assert "'app-user-1'" in answer.body["Reason"] and "'active'" in answer.body["Reason"]
    assert answer.body["PhysicalResourceId"] == "app-user-1"


def test_default_user_of_a_group_fails_with_groups_and_remedy(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    owned_user(fake, user_group_ids=["orders-group", "cart-group"], default_of=["orders-group"])
    [answer] = invoke(load_event("delete.json", receiver))
    reason = answer.body["Reason"]
    assert answer.body["Status"] == "FAILED"
    assert "'app-user-1'" in reason and "orders-group" in reason and "cart-group" in reason
    assert "default user" in reason and "ModifyUserGroup" in reason
    assert "app-user-1" in fake.users


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ServiceLinkedRoleNotFoundFault", "service-linked role"),
        ("InvalidParameterValue", "refused by ElastiCache as invalid"),
        ("SomethingNew", "SomethingNew"),
    ],
)
def test_api_refusals_fail_with_a_clear_reason(
    code: str, expected: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    owned_user(fake)
    fake.faults = [("DeleteUser", code)]
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "FAILED"
    assert expected in answer.body["Reason"] and "app-user-1" in answer.body["Reason"]


def test_throttling_and_server_errors_are_absorbed_by_retries(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    owned_user(fake)
    fake.delete_seconds = 0.2
    fake.faults = [("DescribeUsers", "throttle"), ("DeleteUser", "500"), ("DescribeUsers", "500")]
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert fake.faults == []


def test_no_sleep_before_answering_even_with_a_long_timeout(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    # crhelper's default would sleep 120 s here (900 s left); the answer must come at once.
    owned_user(fake)
    started = time.monotonic()
    [answer] = invoke(load_event("delete.json", receiver), timeout=900)
    assert answer.body["Status"] == "SUCCESS"
    assert answer.at - started < 10


def test_user_not_owned_by_the_stack_is_not_deleted(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    fake.add_user(
        "app-user-1",
        tags={
            "elasticache-user-resource:stack-id": "arn:aws:cloudformation:us-east-1:1:stack/other/1",
            "elasticache-user-resource:logical-id": "AppUser",
        },
    )
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "FAILED"
    assert "another owner" in answer.body["Reason"] and "DeletionPolicy: Retain" in answer.body["Reason"]
    assert "DeleteUser" not in fake.actions()


def test_untagged_user_is_deleted_only_when_adoption_is_allowed(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1")
    event = load_event("delete.json", receiver)
    [refused] = invoke(event)
    assert refused.body["Status"] == "FAILED" and "no ownership tag" in refused.body["Reason"]
    event["ResourceProperties"]["AdoptExistingUser"] = "true"
    answers = invoke(event)
    assert answers[-1].body["Status"] == "SUCCESS"
    assert "app-user-1" in fake.gone_at


def test_hand_over_to_poll_when_deletion_outlasts_the_invocation(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned_user(fake)
    fake.delete_seconds = 2.5
    # 3.5 s of Lambda time with a 2 s margin: the invocation must stop waiting after 1.5 s.
    assert invoke(load_event("delete.json", receiver), timeout=3.5) == []
    rule, stored = stored_poll()
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    poll_event = json.loads(stored)
    assert poll_event["CrHelperPoll"] is True
    # Only the envelope and the poll state are stored: no property (passwords) at all.
    assert "ResourceProperties" not in poll_event and "Passwords" not in stored
    assert fake.wait_until(lambda fake: "app-user-1" not in fake.users)
    [answer] = invoke(poll_event)
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "app-user-1"
    assert "PhysicalResourceId" not in answer.body["Data"]
    assert operator_client("events").list_rules()["Rules"] == []


def test_poll_that_is_still_waiting_sends_nothing_and_keeps_the_rule(
    fake: FakeElastiCache, moto: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned_user(fake)
    fake.delete_seconds = 30
    poll_event = load_event(
        "delete.json",
        receiver,
        CrHelperPoll=True,
        CrHelperData={"PhysicalResourceId": "app-user-1"},
        CrHelperRule="arn:aws:events:us-east-1:123456789012:rule/AppUserABCDEFGH",
        CrHelperPermission="AppUserABCDEFGH",
    )
    assert invoke(poll_event, timeout=3.0) == []
    assert fake.count("DeleteUser") == 1
    assert fake.users["app-user-1"].status == "deleting"


def test_polling_gives_up_after_the_service_timeout(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned_user(fake)
    fake.delete_seconds = 600
    event = load_event("delete.json", receiver)
    event["ResourceProperties"]["ServiceTimeout"] = "1800"
    assert invoke(event, timeout=3.0) == []
    poll_event = json.loads(stored_poll()[1])
    # Half an hour and more of polling later, CloudFormation has stopped waiting.
    poll_event["ElastiCacheUserPoll"]["since"] -= 1801
    [answer] = invoke(poll_event, timeout=3.0)
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == "app-user-1"
    assert "ServiceTimeout (1800 s)" in answer.body["Reason"] and "'app-user-1'" in answer.body["Reason"]
    assert operator_client("events").list_rules()["Rules"] == []
