"""Detection lag: seconds from the user's disappearance to the answer at the ResponseURL,
and DescribeUsers calls, for this project against three other ways of waiting."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import boto3
from botocore.exceptions import ClientError

from bench.common import delete_event, median, owner_tags, table
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver

# crhelper's defaults: an EventBridge rule every 2 minutes, and 120 s of sleep before any
# Delete answer (when more than 135 s of the invocation are left, as with a 900 s timeout).
CRHELPER_POLL_SECONDS = 120.0
CRHELPER_DELETE_SLEEP = 120.0


@dataclass
class Result:
    lag: float
    calls: int
    waited: float  # seconds from the request to the answer


def describe_calls(api: FakeElastiCache, user_id: str) -> int:
    with api.lock:
        return sum(1 for action, params in api.calls if action == "DescribeUsers" and params.get("UserId") == user_id)


def run_this_project(api: FakeElastiCache, receiver: Receiver, user_id: str) -> float:
    """One Delete through the real handler, as its own Lambda container; returns its start."""
    from provider.cfn_resource import UserResource
    from runtime.clients import new_elasticache_client
    from runtime.config import Settings

    client = new_elasticache_client(None, Settings.from_environment().deadline_margin)
    resource = UserResource(Settings.from_environment(), client=client)
    started = time.monotonic()
    resource.handle(delete_event(receiver.url(user_id), user_id, user_id), LambdaContext(timeout_seconds=900))
    return started


def fixed_poller(interval: float) -> Callable[[FakeElastiCache, Receiver, str], float]:
    """A provider that deletes, then checks every `interval` seconds (first check after one
    interval), and answers through the same bounded sender."""

    def run(api: FakeElastiCache, receiver: Receiver, user_id: str) -> float:
        from cloudformation.response import put_response

        client = boto3.client("elasticache")
        started = time.monotonic()
        client.delete_user(UserId=user_id)
        while True:
            time.sleep(interval)
            try:
                client.describe_users(UserId=user_id)
            except ClientError as error:
                if error.response["Error"]["Code"] == "UserNotFound":
                    break
                raise
        body = {
            "Status": "SUCCESS",
            "PhysicalResourceId": user_id,
            "StackId": "s",
            "RequestId": user_id,
            "LogicalResourceId": "BenchUser",
            "Reason": "",
            "Data": {},
            "NoEcho": False,
        }
        put_response(
            receiver.url(user_id), body, allowed_hosts={"127.0.0.1"}, attempts=5, timeout=5, time_left=lambda: 60.0
        )
        return started

    return run


def crhelper_defaults(deletion: float) -> Result:
    """Computed, not waited for: crhelper's first check is the first rule firing."""
    polls = max(1, math.ceil(deletion / CRHELPER_POLL_SECONDS))
    answered = polls * CRHELPER_POLL_SECONDS + CRHELPER_DELETE_SLEEP
    return Result(lag=answered - deletion, calls=polls, waited=answered)


def schedule_checks(initial: float, growth: float, maximum: float) -> Iterator[float]:
    elapsed, interval = 0.0, initial
    while True:
        elapsed += interval
        yield elapsed
        interval = min(maximum, interval * growth)


def measure(
    runner: Callable[[FakeElastiCache, Receiver, str], float],
    api: FakeElastiCache,
    receiver: Receiver,
    deletions: list[float],
    repeats: int,
    prefix: str,
) -> dict[float, list[Result]]:
    """Run `repeats` deletions of each length at once, in threads; collect lags and calls."""
    jobs: list[tuple[float, str]] = []
    for deletion in deletions:
        for repeat in range(repeats):
            user_id = f"{prefix}-{str(deletion).replace('.', '-')}-{repeat}"
            api.add_user(user_id, tags=owner_tags(user_id))
            api.delete_seconds_for[user_id] = deletion
            jobs.append((deletion, user_id))
    starts: dict[str, float] = {}

    def job(user_id: str) -> None:
        starts[user_id] = runner(api, receiver, user_id)

    threads = [threading.Thread(target=job, args=(user_id,)) for _, user_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    arrivals = {d.path.split("?")[0].lstrip("/"): d.at for d in receiver.wait_for(len(receiver.deliveries))}
    results: dict[float, list[Result]] = {d: [] for d in deletions}
    for deletion, user_id in jobs:
        arrived = arrivals[user_id]
        results[deletion].append(
            Result(
                lag=arrived - api.gone_at[user_id], calls=describe_calls(api, user_id), waited=arrived - starts[user_id]
            )
        )
    return results


def report(
    api: FakeElastiCache, receiver: Receiver, deletions: list[float], repeats: int, with_pollers: bool = True
) -> dict[str, float]:
    """Measure and print the lag table; returns the figures the targets are judged on."""
    from runtime.config import Settings

    schedule = Settings.from_environment().schedule
    columns: dict[str, dict[float, list[Result]]] = {}
    runners = {"this project": run_this_project, "fixed 5 s": fixed_poller(5.0), "fixed 60 s": fixed_poller(60.0)}
    if not with_pollers:
        runners = {"this project": run_this_project}
    threads = []
    for name, runner in runners.items():

        def run(name: str = name, runner: Callable[[FakeElastiCache, Receiver, str], float] = runner) -> None:
            columns[name] = measure(
                runner, api, receiver, deletions, repeats, name.replace(" ", "").replace("project", "p")
            )

        threads.append(threading.Thread(target=run))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = []
    for deletion in deletions:
        row: list[object] = [f"{deletion:g} s"]
        for name in ("this project", "fixed 5 s", "fixed 60 s"):
            results = columns.get(name, {}).get(deletion, [])
            row.append(
                f"{median([r.lag for r in results]):6.2f} s, {median([r.calls for r in results]):4.0f}"
                if results
                else "not run"
            )
        computed = crhelper_defaults(deletion)
        row.insert(2, f"{computed.lag:6.0f} s, {computed.calls:4d}")
        rows.append(row)
    ours = columns["this project"]
    total_calls = sum(r.calls for results in ours.values() for r in results)
    total_wait = sum(r.waited for results in ours.values() for r in results)
    table(
        f"Detection lag (median of {repeats}) and DescribeUsers calls, per deletion time",
        ["deletion", "this project", "crhelper defaults", "fixed 5 s poller", "fixed 60 s poller"],
        rows,
        [
            "lag: from the user's disappearance in the API to the answer's arrival at the HTTPS receiver.",
            "crhelper defaults: computed (poll rule every 120 s, then its 120 s Delete sleep), not waited for.",
            "fixed pollers: DeleteUser, then DescribeUsers every N s (the CDK Provider's 5 s, the MemoryDB",
            "provider's 60 s), measured like this project, in the same process, against the same fake.",
            "Deletion times that are multiples of a fixed interval flatter that poller (it checks just as the",
            "user goes); for an unaligned deletion its lag averages half its interval: 2.5 s and 30 s.",
            f"this project's schedule: first check after {schedule.initial:g} s, x{schedule.growth:g} per check, "
            f"at most {schedule.maximum:g} s apart; one DescribeUsers before DeleteUser checks ownership.",
            f"this project, all rows: {total_calls} DescribeUsers in {total_wait:.1f} s of waiting = "
            f"{total_calls / total_wait:.2f} per second.",
        ],
    )
    figures = {"calls_per_second": total_calls / total_wait}
    for deletion in deletions:
        figures[f"lag_{deletion:g}"] = median([r.lag for r in ours[deletion]])
    return figures
