"""Real ElastiCache and CloudFormation behaviour, against the unkind fake: tagging
while busy, ModifyUser races, duplicate deliveries, no orphans, hand-over limits."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.iam_gate import operator_client
from local.receiver import Receiver
from provider.cfn_resource import UserResource
from runtime.config import Settings
from tests.conftest import OWNER, Invoke, aged, in_parallel, load_event, stored_poll, with_properties


def owned(fake: FakeElastiCache, user_id: str = "app-user-1", **attributes: Any) -> None:
    fake.add_user(user_id, access_string="on ~app:* +@read +@write", tags={**OWNER, "team": "payments"}, **attributes)


def tagging_refusals(fake: FakeElastiCache) -> int:
    """How often the fake answered a tagging call with 'not available for tagging'."""
    return fake.refused.get("UserNotFound", 0)


# "Not available for tagging" never means gone -----------------------------------------


def test_delete_of_a_modifying_user_waits_then_checks_ownership_and_deletes(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    fake.hold("app-user-1", "modifying", 1.0)
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert "app-user-1" in fake.gone_at
    actions = fake.actions()
    assert actions.index("ListTagsForResource") < actions.index("DeleteUser")


def test_adopting_delete_retries_a_tag_change_refused_while_tagging_is_busy(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1")
    fake.users["app-user-1"].tagging_busy_until = time.monotonic() + 0.5  # a tag change just happened
    event = with_properties(load_event("delete.json", receiver), AdoptExistingUser="true")
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert tagging_refusals(fake) >= 1 and "app-user-1" in fake.gone_at


def test_duplicate_creates_during_creating_both_succeed_with_one_user(
    fake: FakeElastiCache, receiver: Receiver
) -> None:
    fake.create_seconds = 0.8
    first = load_event("create.json", receiver)
    second = {**first, "ResponseURL": receiver.url("duplicate")}
    in_parallel(first, second)
    answers = receiver.wait_for(2)
    assert [a.body["Status"] for a in answers] == ["SUCCESS", "SUCCESS"], [a.body["Reason"] for a in answers]
    assert {a.body["PhysicalResourceId"] for a in answers} == {"app-user-1"}
    assert answers[0].body["Data"]["Arn"] == answers[1].body["Data"]["Arn"]
    assert list(fake.users) == ["app-user-1"] and fake.users["app-user-1"].tags == {**OWNER, "team": "payments"}


# Tag changes against the user's actual tags, each making the next one wait ------------


def test_update_with_several_tag_changes_and_its_rollback_succeed(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    forward = with_properties(
        load_event("update.json", receiver), Tags=[{"Key": "tier", "Value": "gold"}, {"Key": "env", "Value": "prod"}]
    )
    assert invoke(forward)[-1].body["Status"] == "SUCCESS"
    assert fake.users["app-user-1"].tags == {**OWNER, "tier": "gold", "env": "prod"}
    assert tagging_refusals(fake) >= 1  # the add after the remove met the busy window
    rollback = {**forward, "RequestId": "rollback-tags"}
    rollback["ResourceProperties"], rollback["OldResourceProperties"] = (
        forward["OldResourceProperties"],
        forward["ResourceProperties"],
    )
    answer = invoke(rollback)[-1]
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.users["app-user-1"].tags == {**OWNER, "team": "payments"}


def test_tag_removal_is_computed_against_the_actual_tags(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", access_string="on ~app:* +@read +@write", tags=dict(OWNER))  # 'team' removed by hand
    event = with_properties(load_event("update.json", receiver), Tags=None)
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert "RemoveTagsFromResource" not in fake.actions() and fake.refused.get("TagNotFound", 0) == 0


def test_modify_user_race_after_active_is_retried(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    owned(fake)
    fake.modify_race_seconds = 0.5
    fake.hold("app-user-1", "modifying", 0.1)
    [answer] = invoke(load_event("update.json", receiver))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.refused.get("InvalidUserState", 0) >= 1
    assert fake.users["app-user-1"].access_string == "on ~app:* +@read"


# No orphan, and no call outlasting the deadline margin ---------------------------------


def test_timer_answer_after_create_user_names_the_new_user(fake: FakeElastiCache, receiver: Receiver) -> None:
    # A client without the deadline hooks lets a slow DescribeUsers overrun the invocation:
    # crhelper's timer answers, and its answer must name the user CreateUser made.
    fake.slow_seconds = 3.0
    fake.faults = [("DescribeUsers", "slow")]
    resource = UserResource(Settings.from_environment(), client=boto3.client("elasticache"))
    resource.handle(load_event("create.json", receiver), LambdaContext(timeout_seconds=2.5))
    [answer] = receiver.wait_for(1, timeout=5)
    assert (answer.body["Status"], answer.body["Reason"]) == ("FAILED", "Execution timed out")
    assert answer.body["PhysicalResourceId"] == "app-user-1"
    fake.wait_for_call("DescribeUsers", times=2)  # the handler's slow check has returned
    rollback = load_event("delete.json", receiver, PhysicalResourceId="app-user-1")
    UserResource(Settings.from_environment()).handle(rollback, LambdaContext(30))
    assert receiver.wait_for(2)[-1].body["Status"] == "SUCCESS" and "app-user-1" in fake.gone_at


def test_no_call_outlasts_the_deadline_margin(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    # ElastiCache stops answering after CreateUser: the provider's own answer (not crhelper's
    # timer) still goes out before the Lambda deadline, naming the user it made.
    fake.slow_seconds = 20.0
    fake.faults = [("DescribeUsers", "slow")] * 20
    answers = invoke(load_event("create.json", receiver), timeout=3.5, settle=1.0)
    assert [a.body["Status"] for a in answers] == ["FAILED"]
    assert answers[0].body["Reason"] != "Execution timed out" and answers[0].body["PhysicalResourceId"] == "app-user-1"


# A hand-over finishes the work ---------------------------------------------------------


def test_update_cut_short_is_applied_by_the_poll(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    fake.hold("app-user-1", "modifying", 2.0)
    assert invoke(load_event("update.json", receiver), timeout=3.0) == []
    assert fake.users["app-user-1"].access_string == "on ~app:* +@read +@write"  # not applied yet
    poll = json.loads(stored_poll()[1])
    assert poll["ElastiCacheUserPoll"]["resume"]["modify"] == {"AccessString": "on ~app:* +@read"}
    [answer] = invoke(poll, timeout=10.0)
    assert answer.body["Status"] == "SUCCESS" and answer.body["PhysicalResourceId"] == "app-user-1"
    assert fake.users["app-user-1"].access_string == "on ~app:* +@read"


def test_a_poll_that_got_further_records_it_so_modify_user_is_not_repeated(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    fake.hold("app-user-1", "modifying", 1.5)
    invoke(load_event("update.json", receiver), timeout=3.0)
    assert fake.wait_until(lambda fake: fake.users["app-user-1"].status == "active")
    fake.modify_seconds = 5.0
    assert invoke(json.loads(stored_poll()[1]), timeout=3.0) == []  # ModifyUser accepted, still modifying
    accepted = fake.accepted("ModifyUser")
    poll = json.loads(stored_poll()[1])
    assert accepted == 1 and poll["ElastiCacheUserPoll"]["resume"]["modify"] == {}
    fake.hold("app-user-1", "active", 0)
    [answer] = invoke(poll, timeout=10.0)
    assert answer.body["Status"] == "SUCCESS" and fake.accepted("ModifyUser") == 1


def test_passwords_from_the_template_are_not_carried_to_a_poll(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    fake.hold("app-user-1", "modifying", 30)
    event = with_properties(load_event("update.json", receiver), Passwords=["Brand-New-Passw0rd-001"])
    [answer] = invoke(event, timeout=3.0)
    assert answer.body["Status"] == "FAILED" and "PasswordSecretId" in answer.body["Reason"]
    assert operator_client("events").list_rules()["Rules"] == []


# One answer per request, duplicates and late polls ----------------------------------------


def test_late_poll_after_completion_changes_nothing_and_sends_nothing(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    fake.delete_seconds = 2.0
    invoke(load_event("delete.json", receiver), timeout=3.0)
    poll = json.loads(stored_poll()[1])
    [first] = invoke(poll, timeout=10.0)
    assert operator_client("events").list_rules()["Rules"] == [] and first.body["Status"] == "SUCCESS"
    receiver.reset()
    calls = len(fake.calls)
    # EventBridge may still fire a removed target: CloudFormation shows the Delete complete, so
    # the late poll is refused, and CloudFormation, which has its answer, gets no other.
    assert invoke(poll, timeout=10.0) == [] and len(fake.calls) == calls


def test_duplicate_updates_at_once_both_succeed(fake: FakeElastiCache, receiver: Receiver) -> None:
    owned(fake)
    fake.modify_seconds = 0.4
    first = with_properties(load_event("update.json", receiver), Tags=[{"Key": "tier", "Value": "gold"}])
    in_parallel(first, {**first, "ResponseURL": receiver.url("duplicate")})
    answers = receiver.wait_for(2)
    assert [a.body["Status"] for a in answers] == ["SUCCESS", "SUCCESS"], [a.body["Reason"] for a in answers]
    assert fake.users["app-user-1"].tags == {**OWNER, "tier": "gold"}


# crhelper's hand-over limits -----------------------------------------------------------


def test_hand_over_fits_eventbridge_for_long_logical_ids_and_many_tags(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.create_seconds = 2.0
    logical_id = "L" * 255
    tags = [{"Key": f"{i:02d}" + "k" * 126, "Value": "v" * 256} for i in range(47)]
    event = with_properties(load_event("create.json", receiver, LogicalResourceId=logical_id), Tags=tags)
    assert invoke(event, timeout=3.0) == []
    rule, stored = stored_poll()
    assert len(rule["Name"]) <= 64 and len(stored) <= 8192
    [answer] = invoke(json.loads(stored), timeout=10.0)
    assert answer.body["Status"] == "SUCCESS" and answer.body["PhysicalResourceId"] == "app-user-1"


def test_pending_work_too_large_to_hand_over_fails_clearly(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    fake.hold("app-user-1", "modifying", 30)
    tags = [{"Key": f"{i:02d}" + "k" * 126, "Value": "v" * 256} for i in range(47)]
    [answer] = invoke(with_properties(load_event("update.json", receiver), Tags=tags), timeout=3.0)
    assert answer.body["Status"] == "FAILED" and "too large to hand over" in answer.body["Reason"]
    assert operator_client("events").list_rules()["Rules"] == []


# ServiceTimeout counts from the first invocation -----------------------------------------


def test_service_timeout_counts_from_the_first_invocation(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    fake.delete_seconds = 600
    event = with_properties(load_event("delete.json", receiver), ServiceTimeout="4")
    started = time.time()
    assert invoke(event, timeout=3.5) == []  # hands over 1.5 s in
    poll = json.loads(stored_poll()[1])
    # CloudFormation shows the request from when it was sent (here, at the invocation), to the ms.
    assert started - 0.001 <= poll["ElastiCacheUserPoll"]["since"] <= started + 0.5
    [answer] = invoke(aged(poll, 4.2), timeout=3.0)  # a poll 4.2 s after the request
    assert answer.body["Status"] == "FAILED" and "ServiceTimeout (4 s)" in answer.body["Reason"]


def test_throttling_past_botocores_attempts_only_postpones_the_call(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    # 4 attempts are botocore's; a busy account throttles longer (measured in `make bench`:
    # 200 concurrent deletes at 100 requests/s). Every call, not only the status checks.
    owned(fake)
    fake.faults = [("DeleteUser", "throttle")] * 5  # botocore's 4 attempts, then one of ours
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.faults == [] and "app-user-1" in fake.gone_at
