"""Scale: many users deleted at once, each by its own invocation (own client, as separate
Lambda containers), against one fake API that throttles above a request rate."""

from __future__ import annotations

import threading
import time
from collections import Counter

from bench.common import delete_event, owner_tags, table
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver


def report(
    api: FakeElastiCache, receiver: Receiver, users: int, rate_limit: float, deletion: float
) -> dict[str, float]:
    """Delete `users` users concurrently; print outcomes, API calls and the slowest answer."""
    from provider.cfn_resource import UserResource
    from runtime.clients import new_elasticache_client
    from runtime.config import Settings

    ids = [f"scale-{index:04d}" for index in range(users)]
    for user_id in ids:
        api.add_user(user_id, tags=owner_tags(user_id))
        api.delete_seconds_for[user_id] = deletion
    api.rate_limit = rate_limit
    already = len(api.calls)
    received_before = len(receiver.deliveries)
    settings = Settings.from_environment()
    # One client per invocation, as separate Lambda containers would have.
    resources = [UserResource(settings, client=new_elasticache_client(None, settings.deadline_margin)) for _ in ids]
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=resource.handle,
            args=(delete_event(receiver.url(user_id), user_id, user_id), LambdaContext(timeout_seconds=900)),
        )
        for resource, user_id in zip(resources, ids, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers = receiver.wait_for(received_before + users)[received_before:]
    api.rate_limit = None
    calls = Counter(action for action, _ in api.calls[already:])
    statuses = Counter(d.body["Status"] for d in answers)
    slowest = max((d.at - started for d in answers), default=float("nan"))
    table(
        f"Scale: {users} users deleted at once, {deletion:g} s deletions, API throttling above {rate_limit:g} req/s",
        ["measure", "value"],
        [
            [
                "answers SUCCESS / FAILED / missing",
                f"{statuses['SUCCESS']} / {statuses['FAILED']} / {users - len(answers)}",
            ],
            ["API calls (all)", sum(calls.values())],
            ["  " + ", ".join(f"{a} {n}" for a, n in sorted(calls.items())), ""],
            ["throttled calls", api.throttled],
            ["slowest answer", f"{slowest:.1f} s"],
            [
                "gone -> answer, worst",
                f"{max(d.at - api.gone_at[d.body['PhysicalResourceId']] for d in answers):.1f} s",
            ],
        ],
        ["Each invocation has its own boto3 client (paced by its throttles), like separate Lambda containers."],
    )
    return {"success": statuses["SUCCESS"], "slowest": slowest}
