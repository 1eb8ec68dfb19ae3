"""Every invocation answers or hands over, whatever fails: the notifier, a crashed poll, a slow
or partly failing EventBridge. Against the strict EventBridge + Lambda stand-in
(local/fake_handover.py), which refuses what AWS refuses."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from local import iam_gate
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver
from local.iam_gate import operator_client
from local.receiver import Receiver
from tests.conftest import OWNER, ROOT, Invoke, load_event, stored_poll

NOTHING_LEFT: dict[str, Any] = {"rules": {}, "statements": []}
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:user-provider-elasticache-user:$LATEST"


def record(payload: dict[str, Any], error_type: str, message: str) -> dict[str, Any]:
    """Lambda's failed-invocation record for `payload` (tests/events/async-failure-create.json)."""
    wrapper: dict[str, Any] = json.loads((ROOT / "tests" / "events" / "async-failure-create.json").read_text())
    wrapper["requestPayload"] = payload
    wrapper["responsePayload"] = {"errorType": error_type, "errorMessage": message}
    return wrapper


def timed_out(payload: dict[str, Any]) -> dict[str, Any]:
    return record(payload, "Sandbox.Timedout", "RequestId: 8c1d Error: Task timed out after 900.00 seconds")


def killed(payload: dict[str, Any]) -> dict[str, Any]:
    return record(payload, "Runtime.ExitError", "RequestId: 8c1d Error: Runtime exited with error: signal: killed")


def notify(event: Any) -> None:
    from notifier import app as failure

    with iam_gate.acting("notifier"):
        failure.lambda_handler(event, LambdaContext(timeout_seconds=60))


@pytest.fixture
def unreachable_elasticache(monkeypatch: pytest.MonkeyPatch) -> None:
    """ElastiCache on a port nothing listens on: every call fails with a connection error,
    retried until the notifier's lookup budget (shortened here) is spent."""
    from notifier import app as failure

    monkeypatch.setattr(failure, "LOOKUP_SECONDS", 2.0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_ELASTICACHE", f"http://127.0.0.1:{port}")


def hand_over_a_delete(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> dict[str, Any]:
    """A Delete still deleting at the deadline, handed over; returns the stored poll event."""
    fake.add_user("app-user-1", tags=dict(OWNER))
    # Room for the hand-over on a loaded machine: it gets a quarter of the 2 s test margin plus
    # the unused undo reserve (a third of the work's time): about 1.5 s here, 0.8 s at timeout=3.
    fake.delete_seconds = 6.0
    assert invoke(load_event("delete.json", receiver), timeout=5.0) == []
    poll: dict[str, Any] = json.loads(stored_poll()[1])
    return poll


# 5 and 8: the notifier always answers, and never with a second physical id ------------------


def test_the_notifier_answers_even_when_elasticache_cannot_be_reached(
    moto: str, unreachable_elasticache: None, receiver: Receiver
) -> None:
    notify(killed(load_event("create.json", receiver)))
    [answer] = receiver.wait_for(1)
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"].startswith("not-created_")
    assert "signal: killed" in answer.body["Reason"]


def test_after_a_timeout_the_notifier_adds_no_answer_it_cannot_be_sure_of(
    moto: str, unreachable_elasticache: None, receiver: Receiver
) -> None:
    # The provider's timer answered already, naming the user if CreateUser was accepted: an
    # answer naming `not-created_…` now could contradict it.
    notify(timed_out(load_event("create.json", receiver)))
    assert receiver.wait_for(1, timeout=1.0) == []


@pytest.mark.parametrize("adopt", [False, True], ids=["created", "taken-over"])
def test_the_notifier_never_names_another_id_than_the_timer(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, adopt: bool
) -> None:
    """The invocation times out: crhelper's timer answers, then Lambda's record reaches the
    notifier. Whatever the notifier adds names the timer's id: the user a Create made, or for
    a take-over (a user it did not make, already tagged as owned) the id that names none."""
    event = load_event("create.json", receiver)
    if adopt:
        fake.add_user("app-user-1", tags={"owner": "someone-else"})
        event["ResourceProperties"] = {**event["ResourceProperties"], "AdoptExistingUser": "true"}
        fake.faults = [("ModifyUser", "slow")]  # after the ownership tags: the timer answers meanwhile
    else:
        fake.create_seconds = 5.0  # still creating when the invocation times out
        fake.faults = [("DescribeUsers", "slow")]
    fake.slow_seconds = 4.0
    [timer] = invoke(event, timeout=3.0, settle=5)
    expected = "not-created_" if adopt else "app-user-1"
    assert timer.body["PhysicalResourceId"].startswith(expected)
    assert fake.wait_until(lambda f: f.users["app-user-1"].status == "active")
    notify(timed_out(event))  # answers (or not) before it returns
    ids = {a.body["PhysicalResourceId"] for a in receiver.deliveries if a.body["RequestId"] == event["RequestId"]}
    assert ids == {timer.body["PhysicalResourceId"]}


# 6: a crashed poll is stopped -----------------------------------------------------------------


def test_a_crashed_poll_is_removed_by_the_notifier(
    fake: FakeElastiCache, hand_over: FakeHandOver, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    poll = hand_over_a_delete(fake, receiver, invoke)
    assert hand_over.leftovers()["statements"]  # the poll is in place
    notify(timed_out(poll))
    [answer] = receiver.wait_for(1)
    assert (answer.body["Status"], answer.body["PhysicalResourceId"]) == ("FAILED", "app-user-1")
    assert hand_over.leftovers() == NOTHING_LEFT


def test_a_poll_of_a_function_that_cannot_start_is_removed(
    fake: FakeElastiCache,
    hand_over: FakeHandOver,
    poll_function: str,
    receiver: Receiver,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    from provider import app
    from runtime import config

    poll = hand_over_a_delete(fake, receiver, invoke)

    def broken() -> config.Settings:
        raise ValueError("broken start")

    monkeypatch.setattr(config.Settings, "from_environment", staticmethod(broken))
    try:
        importlib.reload(app)
        app.lambda_handler(poll, LambdaContext(30))
        [answer] = receiver.wait_for(1)
        assert answer.body["Status"] == "FAILED" and "failed to start" in answer.body["Reason"]
        assert hand_over.leftovers() == NOTHING_LEFT
    finally:
        monkeypatch.undo()
        importlib.reload(app)


# 7: hand-over calls are bounded, and a half-made hand-over is found again ---------------------


def test_a_hand_over_slower_than_the_deadline_answers_once_and_leaves_nothing_polling(
    fake: FakeElastiCache, hand_over: FakeHandOver, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", tags=dict(OWNER))
    fake.delete_seconds = 30.0
    hand_over.slow["PutTargets"] = 5.0  # longer than the time left: boto3's 60 s default would wait
    answers = invoke(load_event("delete.json", receiver), timeout=4.0, settle=3)
    assert [a.body["Status"] for a in answers] == ["FAILED"]
    assert "hand-over to polling could not be set up" in answers[0].body["Reason"]
    receiver.wait_for(2, timeout=5.0)  # the slow PutTargets arrives late: it must find no rule
    assert hand_over.leftovers() == NOTHING_LEFT and len(receiver.deliveries) == 1


def test_a_hand_over_killed_half_way_is_cleaned_up_by_the_notifier(
    fake: FakeElastiCache, hand_over: FakeHandOver, poll_function: str, receiver: Receiver
) -> None:
    from cloudformation.request import CfnRequest

    event = load_event("delete.json", receiver)
    name = CfnRequest.from_event(event, now=0, is_poll=False).poll_rule_name
    # What an invocation killed between AddPermission and PutTargets leaves: a rule, no target.
    arn = operator_client("events").put_rule(Name=name, ScheduleExpression="rate(1 minute)")["RuleArn"]
    operator_client("lambda").add_permission(
        FunctionName=poll_function,
        StatementId=name,
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=arn,
    )
    notify(timed_out(event))
    assert receiver.wait_for(1)[0].body["Status"] == "FAILED"
    assert hand_over.leftovers() == NOTHING_LEFT


def test_no_poll_is_made_once_an_answer_went_out(hand_over: FakeHandOver, poll_function: str) -> None:
    from cloudformation.polling import Polling, PollRule
    from cloudformation.request import RULE_PREFIX
    from runtime.clients import aws_client
    from runtime.deadline import Deadline

    polling = Polling(aws_client("events", 2.0), aws_client("lambda", 2.0))
    made = polling.set_up(
        PollRule(RULE_PREFIX + "AppUser-0123456789abcdef", poll_function, RULE_PREFIX + "AppUser-0123456789abcdef"),
        1,
        lambda arn: "{}",
        lambda: False,
        Deadline(5),
        Deadline(6),
    )
    assert made is False and hand_over.leftovers() == NOTHING_LEFT
    assert hand_over.count("PutTargets") == 0


# 10: partial failures are failures ------------------------------------------------------------


def test_partly_failed_put_targets_is_retried_and_the_poll_finishes(
    fake: FakeElastiCache, hand_over: FakeHandOver, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    hand_over.partial_failures["PutTargets"] = 2
    poll = hand_over_a_delete(fake, receiver, invoke)
    assert hand_over.count("PutTargets") == 3 and hand_over.partial_failures["PutTargets"] == 0
    [answer] = invoke(poll, timeout=30)
    assert answer.body["Status"] == "SUCCESS" and "app-user-1" in fake.gone_at
    assert hand_over.leftovers() == NOTHING_LEFT


def test_a_target_that_cannot_be_removed_keeps_its_permission_for_the_next_poll(
    fake: FakeElastiCache, hand_over: FakeHandOver, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    poll = hand_over_a_delete(fake, receiver, invoke)
    hand_over.partial_failures["RemoveTargets"] = 1000
    [answer] = invoke(poll, timeout=10)
    assert answer.body["Status"] == "SUCCESS"
    # The target stayed: so do the permission it needs and the rule (DeleteRule would be refused).
    left = hand_over.leftovers()
    assert list(left["rules"].values()) == [["1"]] and len(left["statements"]) == 1
    hand_over.partial_failures.clear()
    late = invoke(poll, timeout=10)  # the rule fires again: the late poll answers the same and cleans up
    assert {json.dumps(a.body, sort_keys=True) for a in late} == {json.dumps(answer.body, sort_keys=True)}
    assert hand_over.leftovers() == NOTHING_LEFT


def test_targets_that_cannot_be_put_answer_failed_and_leave_nothing(
    fake: FakeElastiCache, hand_over: FakeHandOver, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", tags=dict(OWNER))
    fake.delete_seconds = 30.0
    hand_over.partial_failures["PutTargets"] = 1000
    [answer] = invoke(load_event("delete.json", receiver), timeout=3.0)
    assert (answer.body["Status"], answer.body["PhysicalResourceId"]) == ("FAILED", "app-user-1")
    assert hand_over.leftovers() == NOTHING_LEFT
