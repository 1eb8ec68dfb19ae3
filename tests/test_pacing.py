"""Sparing the account's ElastiCache API: a client's pacing by the throttles it meets
(runtime/pacing.py), and the stand-in of Lambda's asynchronous queue that the benchmark plays a
stack's requests through (local/lambda_queue.py). The figures are the benchmark's
(bench/stack.py); these check the mechanisms."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from lint.cfn_yaml import load_template, resolve
from local import lambda_queue
from local.fake_elasticache import FakeElastiCache
from local.lambda_queue import LambdaQueue
from runtime.clients import bounded_by, new_elasticache_client
from runtime.deadline import Deadline
from runtime.pacing import GROWTH_LIMIT, HALF_LIFE, Pacing
from tests.conftest import ROOT


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_throttle_spaces_the_clients_attempts_doubling_to_a_limit_and_fading_without_one() -> None:
    clock = Clock()
    pacing = Pacing(first=10.0, clock=clock)
    assert pacing.wait() == 0 and pacing.wait() == 0  # never throttled: no pause
    pacing.throttled()
    first = pacing.wait()
    assert 5.0 <= first <= 15.0  # the first pause, jittered 0.5x-1.5x
    clock.now += first
    for _ in range(4):  # 20, 40, then no more than 4x the first
        pacing.throttled()
    longest = pacing.wait()
    assert 10.0 * GROWTH_LIMIT * 0.5 <= longest <= 10.0 * GROWTH_LIMIT * 1.5
    clock.now += longest + 3 * HALF_LIFE  # three half-lives without a throttle, no attempt due
    assert pacing.wait() == 0
    assert pacing.wait() <= 10.0 * GROWTH_LIMIT / 8 * 1.5  # an eighth of the pause is left
    pacing.throttled()  # a new throttle starts again from the first pause
    clock.now += 30
    assert pacing.wait() <= 10.0 * 1.5


def test_a_throttled_elasticache_call_is_retried_after_the_clients_pause(
    fake: FakeElastiCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []
    sleep = Deadline.sleep

    def recorded(deadline: Deadline, seconds: float) -> None:
        pauses.append(seconds)
        sleep(deadline, seconds)

    monkeypatch.setattr(Deadline, "sleep", recorded)
    client = new_elasticache_client(None, 2.0)
    fake.faults = [("DescribeUsers", "throttle")] * 3
    with bounded_by(Deadline(30.0)):
        client.describe_users()
    # Three throttles, each retried at once by botocore's hook, after a pause of this client's:
    # 0.1 s (THROTTLE_PAUSE_SECONDS in tests), then 0.2, then 0.4, each jittered 0.5x-1.5x. What is
    # slept is that pause less the time the throttled call itself took (a loaded machine's share):
    # so only its bound is asserted here; the pause itself is the test above (a clock of its own).
    assert fake.faults == [] and len(pauses) == 3
    for pause, first in zip(pauses, (0.1, 0.2, 0.4), strict=True):
        assert 0 < pause <= first * 1.5 + 0.01


def test_the_queue_runs_at_most_its_concurrency_and_retries_the_rest_until_each_ran() -> None:
    running, most, ran = 0, 0, []
    lock = threading.Lock()

    def run(event: dict[str, Any]) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)
        with lock:
            running -= 1
            ran.append(event["n"])

    queue = LambdaQueue(run, concurrency=2)
    for n in range(5):
        queue.submit({"n": n})
    while not queue.idle():
        time.sleep(0.05)
    assert sorted(ran) == [0, 1, 2, 3, 4] and most == 2 and queue.throttled >= 3 and queue.expired == 0


def test_an_event_older_than_the_maximum_age_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lambda_queue, "MAXIMUM_EVENT_AGE", 0.3)
    release = threading.Event()

    def run(_: dict[str, Any]) -> None:
        release.wait(5)

    queue = LambdaQueue(run, concurrency=1)
    queue.submit({})
    queue.submit({})  # throttled, and its first retry (0.5-1 s later) would be older than 0.3 s
    while queue.expired == 0:
        time.sleep(0.05)
    release.set()
    while not queue.idle():
        time.sleep(0.05)
    assert queue.expired == 1 and queue.throttled == 1


@pytest.mark.parametrize(("value", "reserved"), [("0", {}), ("20", {"ReservedConcurrentExecutions": "20"})])
def test_provider_concurrency_reserves_the_providers_executions_and_0_leaves_it_unreserved(
    value: str, reserved: dict[str, str]
) -> None:
    template = load_template(ROOT / "template.yaml")
    values = {"ProviderConcurrency": value}
    condition = "WithProviderConcurrency"
    conditions = {condition: resolve(template["Conditions"][condition], values, {})}
    properties = template["Resources"]["ElastiCacheUserFunction"]["Properties"]
    node = {"ReservedConcurrentExecutions": properties["ReservedConcurrentExecutions"]}
    assert resolve(node, values, conditions) == reserved
    assert template["Parameters"]["ProviderConcurrency"]["Default"] == "0"
