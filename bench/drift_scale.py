"""Drift at scale: one drift-function invocation checks every owned user (each with its
applied-state record in Parameter Store) against one fake API that throttles above a request
rate, pacing itself below it."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

from bench.common import STACK_ID, logical_id, owner_tags, table
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.fake_ssm import FakeSsm, Parameter
from local.fake_wire import serve

LAMBDA_TIMEOUT = 900.0
DRIFTED = 3
COUNTED = ("checked", "drifted", "unknown", "errors")


def report(ssm: FakeSsm, users: int, rate_limit: float, pace: float) -> dict[str, float]:
    """Check `users` owned users, DRIFTED of them changed behind the stack's back, in an API of
    their own (the other rows' users left aside)."""
    api = FakeElastiCache()
    ssm.parameters.clear()
    saved = os.environ["AWS_ENDPOINT_URL_ELASTICACHE"]
    with serve(api) as endpoint:
        os.environ["AWS_ENDPOINT_URL_ELASTICACHE"] = endpoint
        try:
            return _report(api, ssm, users, rate_limit, pace)
        finally:
            os.environ["AWS_ENDPOINT_URL_ELASTICACHE"] = saved


def _report(api: FakeElastiCache, ssm: FakeSsm, users: int, rate_limit: float, pace: float) -> dict[str, float]:
    from cloudformation.records import Record, base_path
    from drift import app as drift

    path = base_path()
    ids = [f"drift-{index:04d}" for index in range(users)]
    for user_id in ids:
        owner = owner_tags(user_id)
        user = api.add_user(user_id, access_string="on ~app:* -@all +@read", tags={**owner, "team": "bench"})
        record = Record(user_id, user_id, "redis", user.access_string, "reported", "password", (), {"team": "bench"},
                        owner, STACK_ID, logical_id(user_id))  # fmt: skip
        ssm.parameters[f"{path}/{user_id}"] = Parameter(f"{path}/{user_id}", record.as_json(), "String")
    for user_id in ids[:DRIFTED]:
        api.users[user_id].access_string = "on ~* +@all"
    os.environ["DRIFT_CALLS_PER_SECOND"] = str(pace)
    api.rate_limit, ssm.rate_limit = rate_limit, 40.0
    started = time.monotonic()
    result: dict[str, Any] = drift.lambda_handler(
        {}, LambdaContext(timeout_seconds=LAMBDA_TIMEOUT, function_name="drift")
    )
    seconds = time.monotonic() - started
    ssm.rate_limit = None
    calls = Counter(action for action, _ in api.calls)
    total = sum(calls.values())
    table(
        f"Drift: {users} owned users checked in one invocation, API throttling above {rate_limit:g} req/s, "
        f"paced at {pace:g} calls/s",
        ["measure", "value"],
        [
            ["checked / drifted / unknown / errors", _counts(result)],
            ["ElastiCache calls (all)", total],
            ["  " + ", ".join(f"{a} {n}" for a, n in sorted(calls.items())), ""],
            ["Parameter Store GetParametersByPath calls", ssm.count("GetParametersByPath")],
            ["throttled ElastiCache calls", api.throttled],
            ["invocation time", f"{seconds:.1f} s of {LAMBDA_TIMEOUT:.0f} s"],
            ["at the default 10 calls/s (projected)", f"{total / 10:.0f} s"],
        ],
        [
            "One ListTagsForResource per user (tags are not in DescribeUsers); users and groups 100 a page.",
            f"One invocation covers about {int((LAMBDA_TIMEOUT - 10) * pace)} calls at this pace.",
        ],
    )
    return {"drift_checked": result["checked"], "drift_drifted": len(result["drifted"]), "drift_seconds": seconds}


def _counts(result: dict[str, Any]) -> str:
    return " / ".join(str(result["checked"]) if k == "checked" else str(len(result[k])) for k in COUNTED)
