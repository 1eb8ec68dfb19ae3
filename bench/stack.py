"""CloudFormation's own maximum: a stack of 500 users created at once, then deleted at once,
each request by its own invocation (own client, as separate Lambda containers), against one
fake API throttled by a token bucket, at each reserved concurrency of the provider: every
request and poll goes through Lambda's asynchronous queue (local/lambda_queue.py), where it
waits for a free slot with Lambda's retry schedule while its ServiceTimeout runs (CloudFormation
shows the request under way from when it is sent). Requests still under way at the deadline
hand over to polls, which an EventBridge stand-in fires every POLL_INTERVAL_MINUTES."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import STACK_ID, table
from local.context import LambdaContext
from local.fake_cloudformation import FakeCloudFormation
from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver
from local.lambda_queue import LambdaQueue
from local.receiver import Receiver


def _event(kind: str, url: str, user_id: str, request_id: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": STACK_ID,
        "RequestId": request_id,
        "LogicalResourceId": f"User{user_id.split('-')[-1]}",
        "ResourceType": "Custom::ElastiCacheUser",
        "ResourceProperties": {
            "UserId": user_id,
            "UserName": user_id,
            "Engine": "valkey",
            "AccessString": "on ~app:* +@read",
            "Passwords": ["Bench-Passw0rd-123456"],
        },
    }
    if kind == "Delete":
        event["PhysicalResourceId"] = user_id
    return event


def _wave(
    kind: str,
    ids: list[str],
    receiver: Receiver,
    hand_over: FakeHandOver,
    make: Callable[[], Any],
    concurrency: int | None,
    cloudformation: FakeCloudFormation,
) -> tuple[float, Counter[str], Counter[str], LambdaQueue]:
    """Send one request per user at once, through the function's asynchronous queue; fire the
    polls of any hand-over (through the same queue) until every request is answered."""

    results: Counter[str] = Counter()
    lock = threading.Lock()
    before = len(receiver.deliveries)
    started = time.monotonic()

    def run(event: dict[str, Any]) -> None:
        result = make().handle(event, LambdaContext(timeout_seconds=900))
        with lock:
            results[result.value] += 1

    lambda_queue = LambdaQueue(run, concurrency)
    for user in ids:
        event = _event(kind, receiver.url(f"{kind}-{user}"), user, f"{kind}-{user}")
        cloudformation.begin(event)  # shown under way when sent, however long it then queues
        lambda_queue.submit(event)
    # EventBridge: every rule with a target fires once per interval until its request is answered.
    interval = int(os.environ.get("POLL_INTERVAL_MINUTES", "1")) * 60
    next_poll = time.monotonic() + interval
    while not lambda_queue.idle() or hand_over.leftovers()["rules"]:
        time.sleep(0.2)
        if time.monotonic() >= next_poll:
            next_poll += interval
            for rule in list(hand_over.rules.values()):
                for target in list(rule.targets.values()):
                    lambda_queue.submit(json.loads(target["Input"]))
    answers = receiver.wait_for(before + len(ids))[before:]
    per_request = Counter(d.path.split("?")[0] for d in answers)
    statuses = Counter(d.body["Status"] for d in answers)
    statuses["answered twice"] = sum(1 for n in per_request.values() if n > 1)
    return max((d.at - started for d in answers), default=float("nan")), statuses, results, lambda_queue


# CloudFormation's own API throttles too (Throttling: Rate exceeded); AWS publishes no rate for
# DescribeStackResource, so the stand-in gets the same kind of token bucket, at this rate.
CLOUDFORMATION_RATE = 10.0


def report(
    api: FakeElastiCache,
    receiver: Receiver,
    hand_over: FakeHandOver,
    users: int,
    rate_limit: float,
    cloudformation: FakeCloudFormation,
    seconds: float = 5.0,
    concurrencies: Sequence[int | None] = (None,),
) -> dict[str, float]:
    """The stack's Create and Delete waves at each reserved concurrency (None: unreserved)."""
    from provider.cfn_resource import UserResource
    from runtime.clients import new_elasticache_client
    from runtime.config import Settings

    ids = [f"stack-{index:04d}" for index in range(users)]
    api.rate_limit, api.create_seconds, api.delete_seconds = rate_limit, seconds, seconds
    settings = Settings.from_environment()

    def make() -> UserResource:
        return UserResource(settings, client=new_elasticache_client(None, settings.deadline_margin))

    rows, figures = [], {}
    cloudformation.rate_limit = CLOUDFORMATION_RATE
    for concurrency in concurrencies:
        name = "unreserved" if concurrency is None else str(concurrency)
        for kind in ("Create", "Delete"):
            already, throttled = len(api.calls), api.throttled
            cfn_calls, cfn_throttled = len(cloudformation.calls), cloudformation.throttled
            slowest, statuses, results, queue = _wave(kind, ids, receiver, hand_over, make, concurrency, cloudformation)
            calls, refused = len(api.calls) - already, api.throttled - throttled
            missing = users - statuses["SUCCESS"] - statuses["FAILED"]
            rows.append(
                [
                    name,
                    kind,
                    f"{statuses['SUCCESS']} / {statuses['FAILED']} / {missing}",
                    statuses["answered twice"],
                    f"{calls / users:.1f}",
                    f"{refused / users:.1f}",
                    f"{(len(cloudformation.calls) - cfn_calls) / users:.1f} / "
                    f"{(cloudformation.throttled - cfn_throttled) / users:.1f}",
                    f"{queue.throttled / users:.1f}",
                    results["HandedOver"],
                    f"{slowest:.0f} s",
                    f"{(calls - refused) / rate_limit:.0f} s",
                ]
            )
            key = f"stack_{name}_{kind.lower()}"
            figures[f"{key}_success"] = float(statuses["SUCCESS"])
            figures[f"{key}_twice"] = float(statuses["answered twice"] + missing + queue.expired)
            figures[f"{key}_throttled"] = refused / users
    api.rate_limit = cloudformation.rate_limit = None
    table(
        f"Stack: {users} users created at once, then deleted at once; token bucket of {rate_limit:g} req/s;"
        " by the provider's reserved concurrency",
        [
            "concurrency",
            "wave",
            "SUCCESS / FAILED / missing",
            "answered twice",
            "API calls / user",
            "throttled / user",
            "CloudFormation calls / throttled, per user",
            "Lambda throttles / user",
            "hand-overs",
            "slowest answer",
            "physical limit",
        ],
        rows,
        [
            f"{seconds:g} s creations and deletions; every invocation its own client; Lambda timeout 900 s;",
            "production settings. A throttled call counts as a call. Hand-overs are polled by the stand-in's",
            "EventBridge.",
            f"Each request and poll is confirmed with CloudFormation, throttled at {CLOUDFORMATION_RATE:g} req/s.",
            "Physical limit: the calls ElastiCache accepted over the token bucket's rate, the shortest the wave",
            "could take. Every request and poll goes through Lambda's asynchronous queue (local/lambda_queue.py):",
            "with reserved concurrency N at most N run at once; a throttled event is tried again after 1 s,",
            "then intervals doubling to 5 min (jittered), for up to the function's MaximumEventAgeInSeconds (3600 s)",
            "(Lambda developer guide, asynchronous invocation).",
        ],
    )
    return figures
