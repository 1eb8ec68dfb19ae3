"""ServiceTimeout on CloudFormation's clock: it runs from when CloudFormation sent the request,
which its DescribeStackResource shows (LastUpdatedTimestamp, the time the resource's status
last changed), however long the event then waited in Lambda's asynchronous queue."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from local.fake_cloudformation import FakeCloudFormation
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from runtime.clients import MODELS, aws_client
from tests.conftest import OWNER, STACK_ID, Invoke, load_event, with_properties


def answer_sent_earlier(
    cloudformation: FakeCloudFormation, invoke: Invoke, event: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """The answer to `event` delivered `seconds` after CloudFormation sent it (showed it under way)."""
    cloudformation.begin(event)
    cloudformation.queued(event, seconds)
    [answer] = invoke(event, timeout=30.0)
    return dict(answer.body)


def test_an_event_that_waited_in_the_queue_is_answered_before_its_remaining_time_runs_out(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    group = fake.add_group("busy")
    group.status, group.settle_at = "modifying", fake.clock() + 60  # the work cannot finish
    event = with_properties(load_event("create.json", receiver), UserGroupIds=["busy"], ServiceTimeout="10")
    started = time.monotonic()
    answer = answer_sent_earlier(cloudformation, invoke, event, 6.0)  # 4 s of its ServiceTimeout left
    # CloudFormation stops waiting 4 s from now; counted from the invocation, the answer came at 8 s.
    assert time.monotonic() - started < 4.0
    assert answer["Status"] == "FAILED" and "ServiceTimeout (10 s)" in answer["Reason"]
    assert answer["PhysicalResourceId"].startswith("not-created_")
    assert "app-user-1" not in fake.users  # the user it made is undone before the answer


@pytest.mark.parametrize(
    ("name", "kind", "answered_id"),
    [("create.json", "Create", "not-created_"), ("delete.json", "Delete", "app-user-1")],
)
def test_a_request_whose_service_timeout_is_over_is_refused_with_no_elasticache_call(
    fake: FakeElastiCache,
    cloudformation: FakeCloudFormation,
    receiver: Receiver,
    invoke: Invoke,
    name: str,
    kind: str,
    answered_id: str,
) -> None:
    users = {"app-user-1"} if kind == "Delete" else set()
    for user in users:
        fake.add_user(user, tags=dict(OWNER))
    event = with_properties(load_event(name, receiver), ServiceTimeout="30")
    answer = answer_sent_earlier(cloudformation, invoke, event, 45.0)
    reason = answer["Reason"]
    assert answer["Status"] == "FAILED" and answer["PhysicalResourceId"].startswith(answered_id)
    # 45 s, and whatever the test itself took on a loaded machine.
    assert re.match(rf"Nothing was changed: this {kind} waited (4[5-9]) s in Lambda's queue", reason), reason
    assert "ServiceTimeout (30 s)" in reason and "ProviderConcurrency (reserved concurrency)" in reason
    assert fake.calls == [] and set(fake.users) == users


def test_an_event_that_waited_with_time_left_still_acts(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    # 20 s of ServiceTimeout, sent 15 s ago: 5 s left, still enough to create the user.
    event = with_properties(load_event("create.json", receiver), ServiceTimeout="20")
    answer = answer_sent_earlier(cloudformation, invoke, event, 15.0)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert "app-user-1" in fake.users


def test_the_stand_in_shows_when_the_status_last_changed_as_cloudformation_does(
    cloudformation: FakeCloudFormation, receiver: Receiver
) -> None:
    client = aws_client("cloudformation", 2.0)

    def shown() -> float:
        detail = client.describe_stack_resource(StackName=STACK_ID, LogicalResourceId="AppUser")
        return float(detail["StackResourceDetail"]["LastUpdatedTimestamp"].timestamp())

    event = load_event("create.json", receiver)
    cloudformation.begin(event)
    cloudformation.queued(event, 100.0)
    sent = time.time() - 100.0
    assert abs(shown() - sent) < 1.0
    cloudformation.begin(event)  # the same request delivered again: its status does not change
    assert abs(shown() - sent) < 1.0
    cloudformation.answered({"RequestId": event["RequestId"], "Status": "SUCCESS", "PhysicalResourceId": "app-user-1"})
    assert abs(shown() - time.time()) < 1.0  # CREATE_COMPLETE: changed now


def test_the_trimmed_model_keeps_the_timestamp_the_provider_reads() -> None:
    [model] = MODELS.rglob("service-2.json")
    detail = json.loads(model.read_text())["shapes"]["StackResourceDetail"]
    assert "LastUpdatedTimestamp" in detail["members"] and "LastUpdatedTimestamp" in detail["required"]
