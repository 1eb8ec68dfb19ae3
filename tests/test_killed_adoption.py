"""A killed take-over never hands the adopted user to a rollback. A real invocation process
runs the handler against the HTTP stand-ins and is SIGKILLed when ElastiCache sees one step
of the take-over; then Lambda's failure record reaches the notifier, and CloudFormation's
rollback Delete follows with the physical id it answered. The hand-made user must still
exist and be in its groups, and every answer for the request names one physical id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest

from local.context import LambdaContext
from local.fake_cloudformation import FakeCloudFormation
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from provider import app
from tests.conftest import ROOT, load_event, with_properties
from tests.test_hand_over_failures import killed, notify

RUN = (
    "import json, sys; import local; from provider import app; from local.context import LambdaContext; "
    "app.lambda_handler(json.loads(sys.stdin.read()), LambdaContext(30))"
)
# Each step of a take-over, as (action, its n-th call): the process dies as that call arrives,
# and ElastiCache still applies it (the caller dies before hearing the answer).
STEPS = [
    ("DescribeUserGroups", 1),  # the groups checked, before anything
    ("CreateUser", 1),  # answered UserAlreadyExists
    ("ListTagsForResource", 1),  # the hand-made user's tags read
    ("AddTagsToResource", 1),  # the ownership tags and the take-over's mark
    ("ModifyUser", 1),  # its access string and password
    ("ModifyUserGroup", 1),  # joins a group the template names
    ("AddTagsToResource", 2),  # the template's tags: the last change before the answer
]


def run_until_killed(fake: FakeElastiCache, event: dict[str, Any], action: str, nth: int) -> int:
    """Run the handler in its own process; kill it when ElastiCache sees `action` the `nth`
    time. Returns the process's exit status."""
    started = threading.Event()
    process: list[subprocess.Popen[bytes]] = []

    def kill_at(seen: str) -> None:
        if seen == action and sum(1 for a, _ in fake.calls if a == action) == nth:
            started.wait()
            process[0].send_signal(signal.SIGKILL)
            process[0].wait()  # dead before ElastiCache applies the call

    fake.on_call = kill_at
    process.append(
        subprocess.Popen(
            [sys.executable, "-c", RUN], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=os.environ
        )
    )
    started.set()
    assert process[0].stdin is not None
    process[0].stdin.write(json.dumps(event).encode())
    process[0].stdin.close()
    return process[0].wait(timeout=60)


@pytest.mark.parametrize(("action", "nth"), STEPS)
def test_a_take_over_killed_at_any_step_leaves_the_hand_made_user(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, action: str, nth: int
) -> None:
    fake.add_user("app-user-1", access_string="on ~legacy:* +get", tags={"owner": "someone-else"})
    fake.add_group("legacy", members=("app-user-1",))
    fake.add_group("orders")
    event = with_properties(
        load_event("create.json", receiver), AdoptExistingUser="true", UserGroupIds=["legacy", "orders"]
    )
    cloudformation.begin(event)  # the invocation runs in a process of its own
    assert run_until_killed(fake, event, action, nth) == -signal.SIGKILL
    fake.on_call = None
    notify(killed(event))
    [answer] = receiver.wait_for(1)
    assert answer.body["Status"] == "FAILED"
    # CloudFormation's rollback: a Delete of the physical id the failed Create answered.
    rollback = load_event("delete.json", receiver, RequestId="rollback")
    rollback.update(PhysicalResourceId=answer.body["PhysicalResourceId"], ResponseURL=receiver.url("rollback"))
    app.lambda_handler(rollback, LambdaContext(30))
    assert receiver.wait_for(2)[-1].body["Status"] == "SUCCESS"
    assert "DeleteUser" not in fake.actions()
    assert "app-user-1" in fake.users and "app-user-1" in fake.groups["legacy"].user_ids
    # One request, one physical id: the only one a take-over's failure answers (its own, or the
    # provider's timer) is the one that names no user.
    assert answer.body["PhysicalResourceId"].startswith("not-created_")
