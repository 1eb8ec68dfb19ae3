"""CloudFormation's genuine sequences, with the statuses it shows while it sends each request
(local/fake_cloudformation.py): every request is confirmed, served, and moves the stack on."""

from __future__ import annotations

from typing import Any

from local.fake_cloudformation import FakeCloudFormation
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from tests.conftest import OWNER, STACK_ID, Invoke, load_event


def shown(cloudformation: FakeCloudFormation) -> tuple[str, str, str]:
    """The stack's status, the resource's, and the id it names."""
    stack = cloudformation.stacks[STACK_ID]
    resource = stack.resources["AppUser"]
    return stack.status, resource.status, resource.physical_id


def answer(invoke: Invoke, event: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = invoke(event)[-1].body
    assert body["Status"] == "SUCCESS", body["Reason"]
    return body


def test_create_update_in_place_and_stack_deletion(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    answer(invoke, load_event("create.json", receiver))
    assert shown(cloudformation) == ("CREATE_COMPLETE", "CREATE_COMPLETE", "app-user-1")
    answer(invoke, load_event("update.json", receiver))
    assert shown(cloudformation) == ("UPDATE_COMPLETE", "UPDATE_COMPLETE", "app-user-1")
    assert cloudformation.delete_stack(STACK_ID) == [("AppUser", "app-user-1")]
    answer(invoke, load_event("delete.json", receiver))
    assert shown(cloudformation) == ("DELETE_COMPLETE", "DELETE_COMPLETE", "app-user-1")
    assert "app-user-1" not in fake.users
    assert cloudformation.count("DescribeStackResource") == 3 and cloudformation.count("DescribeStacks") == 0


def test_replacement_then_cleanup(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    answer(invoke, load_event("create.json", receiver))
    assert answer(invoke, load_event("update-replace.json", receiver))["PhysicalResourceId"] == "app-user-2"
    assert shown(cloudformation) == ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "app-user-2")
    # The old user's Delete: the resource names the new one, the stack's status explains why.
    answer(invoke, load_event("delete.json", receiver, RequestId="cleanup"))
    assert shown(cloudformation) == ("UPDATE_COMPLETE", "UPDATE_COMPLETE", "app-user-2")
    assert set(fake.users) == {"app-user-2"} and cloudformation.count("DescribeStacks") == 1


def test_failed_update_with_replacement_its_rollback_and_the_rollback_cleanup(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    answer(invoke, load_event("create.json", receiver))
    cloudformation.put(STACK_ID, "UPDATE_IN_PROGRESS", "Queue", "UPDATE_IN_PROGRESS", "queue-1")  # updated alongside
    replace = load_event("update-replace.json", receiver)
    answer(invoke, replace)
    assert shown(cloudformation) == ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE", "app-user-2")
    cloudformation.put(STACK_ID, "UPDATE_IN_PROGRESS", "Queue", "UPDATE_FAILED", "queue-1")
    cloudformation.fail(STACK_ID)  # the Queue failed: CloudFormation rolls the stack back
    rollback = {
        **replace,
        "RequestId": "rollback",
        "PhysicalResourceId": "app-user-2",
        "ResourceProperties": replace["OldResourceProperties"],
        "OldResourceProperties": replace["ResourceProperties"],
    }
    assert answer(invoke, rollback)["PhysicalResourceId"] == "app-user-1"
    assert shown(cloudformation) == ("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "app-user-1")
    answer(invoke, load_event("delete.json", receiver, RequestId="rollback-cleanup", PhysicalResourceId="app-user-2"))
    assert shown(cloudformation) == ("UPDATE_ROLLBACK_COMPLETE", "UPDATE_COMPLETE", "app-user-1")
    assert set(fake.users) == {"app-user-1"}


def test_failed_create_its_rollback_delete_and_the_deletion_of_the_stack(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    fake.broken["CreateUser"] = "UserQuotaExceeded"
    [failed] = invoke(load_event("create.json", receiver))
    assert failed.body["Status"] == "FAILED" and shown(cloudformation)[:2] == ("ROLLBACK_IN_PROGRESS", "CREATE_FAILED")
    answer(invoke, load_event("delete.json", receiver, PhysicalResourceId=failed.body["PhysicalResourceId"]))
    assert shown(cloudformation)[:2] == ("ROLLBACK_COMPLETE", "DELETE_COMPLETE")
    assert cloudformation.delete_stack(STACK_ID) == []  # nothing left to send a Delete for
    assert cloudformation.stacks[STACK_ID].status == "DELETE_COMPLETE"


def test_a_created_user_is_deleted_by_the_rollback_of_its_stacks_failed_create(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    cloudformation.put(STACK_ID, "CREATE_IN_PROGRESS", "Queue", "CREATE_IN_PROGRESS")
    answer(invoke, load_event("create.json", receiver))
    cloudformation.put(STACK_ID, "CREATE_IN_PROGRESS", "Queue", "CREATE_FAILED")
    cloudformation.fail(STACK_ID)
    answer(invoke, load_event("delete.json", receiver))
    assert shown(cloudformation) == ("ROLLBACK_COMPLETE", "DELETE_COMPLETE", "app-user-1")
    assert "app-user-1" not in fake.users


def test_a_throttled_confirmation_is_retried_and_the_request_goes_through(
    cloudformation: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    # CloudFormation's API throttles like any other (Throttling, "Rate exceeded"): a 500-user
    # stack asks it once per request, so a throttled describe must only slow a request down.
    fake.add_user("app-user-1", tags=dict(OWNER))
    cloudformation.faults = [("DescribeStackResource", "throttle")] * 2
    body = answer(invoke, load_event("delete.json", receiver))
    assert body["Status"] == "SUCCESS", body
    assert cloudformation.count("DescribeStackResource") == 3 and "app-user-1" not in fake.users


def test_a_cleanup_delete_that_died_is_answered_by_the_notifier_once_confirmed(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    # The notifier confirms a record as the provider does: in a cleanup phase the resource names
    # the new user, so only the stack's status (DescribeStacks) shows the old one's Delete under way.
    from tests.test_hand_over_failures import killed, notify

    answer(invoke, load_event("create.json", receiver))
    answer(invoke, load_event("update-replace.json", receiver))
    receiver.reset()
    notify(killed(load_event("delete.json", receiver, RequestId="cleanup")))
    [failed] = receiver.wait_for(1)
    assert (failed.body["Status"], failed.body["PhysicalResourceId"]) == ("FAILED", "app-user-1")
    assert cloudformation.count("DescribeStacks") == 1 and set(fake.users) == {"app-user-1", "app-user-2"}
