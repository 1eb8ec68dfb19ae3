"""Faults: ElastiCache misbehaving, the ResponseURL failing, the deadline arriving.
Each case ends with exactly one correct answer, or a clean hand-over."""

from __future__ import annotations

import json
import logging
import socket
import threading

import boto3
import pytest

from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.iam_gate import operator_client
from local.receiver import Receiver, https_receiver
from provider.cfn_resource import UserResource
from runtime.config import Settings
from runtime.log import SERVICE
from tests.conftest import OWNER, Invoke, in_parallel, load_event


def owned(fake: FakeElastiCache) -> None:
    fake.add_user("app-user-1", tags=dict(OWNER))


@pytest.mark.parametrize(
    "faults",
    [
        [("DescribeUsers", "reset"), ("DeleteUser", "reset")],
        [("*", "500"), ("*", "500"), ("*", "500")],
        [("*", "throttle")] * 3,
        [("DeleteUser", "slow"), ("DescribeUsers", "slow")],
    ],
    ids=["connection-resets", "http-500s", "throttling-burst", "slow-answers"],
)
def test_elasticache_faults_still_end_in_success(
    faults: list[tuple[str, str]], fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    owned(fake)
    fake.delete_seconds = 0.3
    fake.slow_seconds = 1.0
    fake.faults = list(faults)
    answers = invoke(load_event("delete.json", receiver))
    assert [a.body["Status"] for a in answers] == ["SUCCESS"]
    assert fake.faults == [] and "app-user-1" in fake.gone_at


@pytest.mark.parametrize(
    "plan", [[500, 503], ["reset"], ["hang"], [502, "reset", 500]], ids=["5xx", "reset", "timeout", "mixed"]
)
def test_response_failure_is_retried_until_delivered(
    plan: list[int | str], fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    receiver.plan = list(plan)
    receiver.hang_seconds = 1.5  # longer than RESPONSE_TIMEOUT_SECONDS (1 s in tests)
    answers = invoke(load_event("delete.json", receiver))
    # A PUT that timed out may still have been stored (as S3 would): a retry then stores the
    # very same answer again, which CloudFormation reads as one.
    assert {json.dumps(a.body, sort_keys=True) for a in answers} == {json.dumps(answers[0].body, sort_keys=True)}
    assert answers[0].body["Status"] == "SUCCESS"
    assert receiver.attempts == len(plan) + 1


def test_response_is_retried_a_bounded_number_of_times_then_logged(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.plan = [500] * 10
    assert invoke(load_event("delete.json", receiver)) == []
    assert receiver.attempts == 5  # RESPONSE_MAX_ATTEMPTS
    assert "response could not be delivered to CloudFormation" in caplog.messages


def test_refused_response_url_is_not_retried(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.plan = [403]
    assert invoke(load_event("delete.json", receiver)) == []
    assert receiver.attempts == 1
    assert any("the ResponseURL was refused" in m for m in caplog.messages)


def test_connection_refused_then_listening(fake: FakeElastiCache, receiver: Receiver) -> None:
    from provider import app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    event = load_event("delete.json", receiver)
    event["ResponseURL"] = event["ResponseURL"].replace(f":{receiver.port}/", f":{port}/")
    late: list[Receiver] = []
    refused, opened, done = threading.Event(), threading.Event(), threading.Event()

    class FirstRefusal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "response PUT failed":
                refused.set()

    watcher = FirstRefusal()
    logging.getLogger(SERVICE).addHandler(watcher)

    def listen_later() -> None:
        refused.wait(10)  # the receiver comes up once the first PUT met a closed port
        with https_receiver(port=port) as second:
            late.append(second)
            opened.set()
            done.wait(10)

    thread = threading.Thread(target=listen_later)
    thread.start()
    try:
        app.lambda_handler(event, LambdaContext(timeout_seconds=30))
    finally:
        done.set()
        thread.join()
        logging.getLogger(SERVICE).removeHandler(watcher)
    assert refused.is_set() and opened.is_set()
    assert [d.body["Status"] for d in late[0].deliveries] == ["SUCCESS"]


def test_hand_over_that_cannot_be_set_up_answers_failed_once(
    fake: FakeElastiCache, moto: str, receiver: Receiver, invoke: Invoke
) -> None:
    # No Lambda function exists in moto, so AddPermission fails after PutRule succeeded: the
    # rule is removed again and the request answered FAILED once.
    owned(fake)
    fake.delete_seconds = 30
    answers = invoke(load_event("delete.json", receiver), timeout=3.0, settle=1.0)
    assert [a.body["Status"] for a in answers] == ["FAILED"]
    assert answers[0].body["PhysicalResourceId"] == "app-user-1"
    assert "hand-over to polling could not be set up" in answers[0].body["Reason"]
    assert operator_client("events").list_rules()["Rules"] == []


def test_call_overrunning_the_deadline_gets_one_answer_from_the_timer(
    fake: FakeElastiCache, receiver: Receiver
) -> None:
    # A DescribeUsers answer slower than the whole invocation, on a client without the
    # deadline hooks (the provider's own client never lets a call overrun): crhelper's timer
    # answers "Execution timed out" 0.5 s before the deadline; the handler's own late answer
    # is then suppressed, and the timer's answer keeps the physical id.

    owned(fake)
    fake.slow_seconds = 3.0
    fake.faults = [("DescribeUsers", "slow")]
    resource = UserResource(Settings.from_environment(), client=boto3.client("elasticache"))
    resource.handle(load_event("delete.json", receiver), LambdaContext(timeout_seconds=2.5))
    # A second answer would arrive right after the handler's: wait for it (returns at once if it does).
    receiver.wait_for(2, timeout=1.0)
    assert [(d.body["Status"], d.body["Reason"], d.body["PhysicalResourceId"]) for d in receiver.deliveries] == [
        ("FAILED", "Execution timed out", "app-user-1")
    ]


def test_concurrent_deletes_of_one_user_both_succeed(fake: FakeElastiCache, receiver: Receiver) -> None:
    # Two Lambda containers (CloudFormation or async retries) handling the same Delete.
    owned(fake)
    fake.delete_seconds = 0.8
    first = load_event("delete.json", receiver)
    in_parallel(first, {**first, "ResponseURL": receiver.url("second")})
    deliveries = receiver.wait_for(2)
    assert sorted((d.path.split("?")[0], d.body["Status"]) for d in deliveries) == [
        ("/6f1e4a52-0004-4c8e-9d1a-000000000004", "SUCCESS"),
        ("/second", "SUCCESS"),
    ]
    assert all(d.at >= fake.gone_at["app-user-1"] for d in deliveries)


def test_throttling_beyond_botocore_retries_only_postpones_a_check(fake: FakeElastiCache, moto: str) -> None:
    # The lifecycle alone, with a client that does not retry: each throttled DescribeUsers
    # during the wait must be taken as "check again later", not as a failure.
    from botocore.config import Config

    from elasticache.users import UserLifecycle
    from runtime.deadline import Deadline, PollSchedule

    owned(fake)
    fake.delete_seconds = 0.3
    client = boto3.client("elasticache", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    lifecycle = UserLifecycle(client, PollSchedule(initial=0.05, growth=1.5, maximum=0.2))
    fake.faults = [("DeleteUser", "InvalidUserState")] + [("DescribeUsers", "throttle")] * 4
    lifecycle.delete("app-user-1", Deadline(10))
    assert "app-user-1" in fake.gone_at and fake.faults == []
