"""CloudFormation's own maximum: a stack of 500 users created at once, then deleted at once,
each request by its own invocation (own client, as separate Lambda containers), against one
fake API throttled by a token bucket. Requests still under way at the deadline hand over to
polls, which an EventBridge stand-in fires every POLL_INTERVAL_MINUTES."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.common import STACK_ID, table
from local.context import LambdaContext
from local.fake_cloudformation import FakeCloudFormation
from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver
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
    kind: str, ids: list[str], receiver: Receiver, hand_over: FakeHandOver, make: Callable[[], Any]
) -> tuple[float, Counter[str], Counter[str]]:
    """Send one request per user at once; fire the polls of any hand-over until all answered."""

    results: Counter[str] = Counter()
    lock = threading.Lock()
    before = len(receiver.deliveries)
    started = time.monotonic()

    def run(event: dict[str, Any]) -> None:
        result = make().handle(event, LambdaContext(timeout_seconds=900))
        with lock:
            results[result.value] += 1

    threads = [
        threading.Thread(target=run, args=(_event(kind, receiver.url(f"{kind}-{u}"), u, f"{kind}-{u}"),)) for u in ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # EventBridge: every rule with a target fires once per interval until its request is answered.
    interval = int(os.environ.get("POLL_INTERVAL_MINUTES", "1")) * 60
    while hand_over.leftovers()["rules"]:
        time.sleep(interval)
        targets = [t for rule in list(hand_over.rules.values()) for t in rule.targets.values()]
        polls = [threading.Thread(target=run, args=(json.loads(t["Input"]),)) for t in targets]
        for poll in polls:
            poll.start()
        for poll in polls:
            poll.join()
    answers = receiver.wait_for(before + len(ids))[before:]
    per_request = Counter(d.path.split("?")[0] for d in answers)
    statuses = Counter(d.body["Status"] for d in answers)
    statuses["answered twice"] = sum(1 for n in per_request.values() if n > 1)
    return max((d.at - started for d in answers), default=float("nan")), statuses, results


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
) -> dict[str, float]:
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
    for kind in ("Create", "Delete"):
        already, throttled = len(api.calls), api.throttled
        cfn_calls, cfn_throttled = len(cloudformation.calls), cloudformation.throttled
        slowest, statuses, results = _wave(kind, ids, receiver, hand_over, make)
        calls = Counter(action for action, _ in api.calls[already:])
        rows.append(
            [
                kind,
                f"{statuses['SUCCESS']} / {statuses['FAILED']} / {users - statuses['SUCCESS'] - statuses['FAILED']}",
                statuses["answered twice"],
                f"{sum(calls.values()) / users:.1f}",
                f"{(api.throttled - throttled) / users:.1f}",
                f"{(len(cloudformation.calls) - cfn_calls) / users:.1f} / "
                f"{(cloudformation.throttled - cfn_throttled) / users:.1f}",
                results["HandedOver"],
                f"{slowest:.0f} s",
            ]
        )
        figures[f"stack_{kind.lower()}_success"] = float(statuses["SUCCESS"])
        figures[f"stack_{kind.lower()}_twice"] = float(statuses["answered twice"])
    api.rate_limit = cloudformation.rate_limit = None
    table(
        f"Stack: {users} users created at once, then deleted at once; token bucket of {rate_limit:g} req/s",
        [
            "wave",
            "SUCCESS / FAILED / missing",
            "answered twice",
            "API calls / user",
            "throttled / user",
            "CloudFormation calls / throttled, per user",
            "hand-overs",
            "slowest answer",
        ],
        rows,
        [
            f"{seconds:g} s creations and deletions; every invocation its own client; Lambda timeout 900 s;",
            "production settings. A throttled call counts as a call. Hand-overs are polled by the stand-in's",
            "EventBridge.",
            f"Each request and poll is confirmed with CloudFormation, throttled at {CLOUDFORMATION_RATE:g} req/s.",
        ],
    )
    return figures
