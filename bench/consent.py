"""What a group owner's consent costs a request: a Create joining 1 and 3 user groups, with
RequireGroupConsent on and off (the consent is one ListTagsForResource per group joined, read
before CreateUser). ElastiCache calls per request, by action, and the median time from the
invocation to CloudFormation's answer, against the fake with instant group changes (so that
the difference is the consent's own, not the groups' minutes)."""

from __future__ import annotations

import time
from collections import Counter

from bench.common import CONSENT, delete_event, median, table
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver

GROUP_COUNTS = (1, 3)
CHECKS = 5  # GroupMembership.check timed alone, per Create
STACK_NAME = "bench-stack"  # common.STACK_ID's


def _create_event(response_url: str, user_id: str, groups: list[str]) -> dict[str, object]:
    event = {**delete_event(response_url, user_id, user_id), "RequestType": "Create"}
    del event["PhysicalResourceId"]
    properties = {"UserId": user_id, "UserName": user_id, "Engine": "valkey", "AccessString": "on ~app:* +@read"}
    event["ResourceProperties"] = {**properties, "AuthenticationMode": {"Type": "iam"}, "UserGroupIds": groups}
    return event


def report(api: FakeElastiCache, receiver: Receiver, repeats: int) -> dict[str, float]:
    from elasticache.groups import GroupMembership
    from provider.cfn_resource import UserResource
    from runtime.clients import new_elasticache_client
    from runtime.config import Settings

    settings = Settings.from_environment()
    saved = api.group_modify_seconds, api.create_seconds
    api.group_modify_seconds = api.create_seconds = 0.0
    configurations = [(count, consent) for count in GROUP_COUNTS for consent in (False, True)]
    seconds: dict[tuple[int, bool], list[float]] = {c: [] for c in configurations}
    calls: dict[tuple[int, bool], Counter[str]] = {c: Counter() for c in configurations}
    checks: dict[tuple[int, bool], list[float]] = {c: [] for c in configurations}
    client = new_elasticache_client(None, settings.deadline_margin)

    def create(user_id: str, count: int, consent: bool) -> tuple[float, list[str]]:
        groups = [f"group-{user_id}-{g}" for g in range(count)]
        for group in groups:
            api.add_group(group, engine="valkey", tags=CONSENT)
        scope = settings.scope._replace(require_group_consent=consent)
        resource = UserResource(
            settings._replace(scope=scope), client=new_elasticache_client(None, settings.deadline_margin)
        )
        before, started = len(api.calls), time.monotonic()
        resource.handle(_create_event(receiver.url(user_id), user_id, groups), LambdaContext(900))
        arrived = receiver.wait_for(len(receiver.deliveries))
        [answer] = [d for d in arrived if d.path.split("?")[0] == f"/{user_id}"]
        assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
        made = [action for action, _ in api.calls[before:]]
        # The check alone (what consent adds to it is the whole cost), for a user not yet in the groups.
        membership = GroupMembership(client, settings.schedule, consent_of=STACK_NAME if consent else None)
        for _ in range(CHECKS):
            checked = time.perf_counter()
            membership.check("consent-probe", "iam", groups)
            checks[count, consent].append(time.perf_counter() - checked)
        return answer.at - started, made

    try:
        create("consent-warm-up", 1, True)  # imports and first connections: not measured
        for index in range(repeats):  # interleaved, so that a slow moment weighs on every row alike
            for count, consent in configurations:
                took, made = create(f"consent-{count}-{'on' if consent else 'off'}-{index}", count, consent)
                seconds[count, consent].append(took)
                calls[count, consent].update(made)
    finally:
        api.group_modify_seconds, api.create_seconds = saved
    rows: list[list[str]] = []
    figures: dict[str, float] = {}
    for count, consent in configurations:
        per_request = {action: n / repeats for action, n in sorted(calls[count, consent].items())}
        total, key = sum(per_request.values()), f"consent_{count}_{'on' if consent else 'off'}"
        shown = ", ".join(f"{a} {n:g}" for a, n in per_request.items())
        label = f"Create joining {count}, consent {'on' if consent else 'off'}"
        check_ms = median(checks[count, consent]) * 1000
        rows.append(
            [label, f"{total:g}", shown, f"{check_ms:.2f} ms", f"{median(seconds[count, consent]) * 1000:.1f} ms"]
        )
        figures[key + "_calls"], figures[key + "_ms"] = total, median(seconds[count, consent]) * 1000
        figures[key + "_check_ms"] = check_ms
    extra = [figures[f"consent_{n}_on_check_ms"] - figures[f"consent_{n}_off_check_ms"] for n in GROUP_COUNTS]
    table(
        f"Group owners' consent (median of {repeats} Creates, {repeats * CHECKS} checks; groups change at once)",
        ["request", "ElastiCache calls", "by action", "check before any change", "invocation -> answer"],
        rows,
        [
            "Consent is one ListTagsForResource per group the user is not yet in, read in the check before "
            f"CreateUser: {extra[0]:+.2f} ms for 1 group, {extra[1]:+.2f} ms for 3 against the loopback fake "
            "(against AWS: one API round trip each). A whole request's time varies by more than that here.",
        ],
    )
    return figures
