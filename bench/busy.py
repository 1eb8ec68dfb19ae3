"""Busy users and groups, with the production poll schedule: a Delete of a user that stays
`modifying` for 5 s; an Update whose two tag changes each meet ElastiCache's ~5 s tagging
cooldown (terraform-provider-aws #47638); a Create that joins a user group whose change
takes 5 s, and the Delete of a user in such a group."""

from __future__ import annotations

import threading
import time

from bench.common import CONSENT, STACK_ID, delete_event, median, owner_tags, table
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver

MODIFYING = 5.0
DELETION = 1.0
TAG_COOLDOWN = 5.0
GROUP_CHANGE = 5.0


def _update_event(response_url: str, user_id: str) -> dict[str, object]:
    properties = {"UserId": user_id, "UserName": user_id, "Engine": "valkey", "AccessString": "on ~* +@all"}
    return {
        **delete_event(response_url, user_id, user_id + "-update"),
        "RequestType": "Update",
        "StackId": STACK_ID,
        "ResourceProperties": {
            **properties,
            "AuthenticationMode": {"Type": "iam"},
            "Tags": [{"Key": "b", "Value": "2"}],
        },
        "OldResourceProperties": {
            **properties,
            "AuthenticationMode": {"Type": "iam"},
            "Tags": [{"Key": "a", "Value": "1"}],
        },
    }


def report(api: FakeElastiCache, receiver: Receiver, repeats: int) -> dict[str, float]:
    from provider.cfn_resource import UserResource
    from runtime.clients import new_elasticache_client
    from runtime.config import Settings

    settings = Settings.from_environment()
    api.tag_busy_seconds, api.modify_race_seconds, api.group_modify_seconds = TAG_COOLDOWN, 0.5, GROUP_CHANGE
    jobs: list[tuple[str, str, dict[str, object]]] = []
    for index in range(repeats):
        joining, leaving = f"busy-join-{index}", f"busy-leave-{index}"
        api.add_group(f"group-{joining}", engine="valkey", tags=CONSENT)
        api.add_user(leaving, engine="valkey", authentication_type="iam", tags=owner_tags(leaving))
        api.add_group(f"group-{leaving}", engine="valkey", members=(leaving,))
        api.delete_seconds_for[leaving] = DELETION
        create = _update_event(receiver.url(joining), joining)
        create.update(RequestType="Create", RequestId=joining)
        create["ResourceProperties"] = {**create["ResourceProperties"], "UserGroupIds": [f"group-{joining}"]}  # type: ignore[dict-item]
        jobs.append(("join", joining, create))
        jobs.append(("leave", leaving, delete_event(receiver.url(leaving), leaving, leaving)))
        deleted, updated = f"busy-delete-{index}", f"busy-update-{index}"
        api.add_user(deleted, tags=owner_tags(deleted))
        api.hold(deleted, "modifying", MODIFYING)
        api.delete_seconds_for[deleted] = DELETION
        api.add_user(updated, engine="valkey", authentication_type="iam", tags={**owner_tags(updated), "a": "1"})
        jobs.append(("delete", deleted, delete_event(receiver.url(deleted), deleted, deleted)))
        jobs.append(("update", updated, _update_event(receiver.url(updated), updated)))
    started: dict[str, float] = {}

    def run(user_id: str, event: dict[str, object]) -> None:
        resource = UserResource(settings, client=new_elasticache_client(None, settings.deadline_margin))
        started[user_id] = time.monotonic()
        resource.handle(event, LambdaContext(timeout_seconds=900))

    threads = [threading.Thread(target=run, args=(user_id, event)) for _, user_id, event in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    arrivals = {d.path.split("?")[0].lstrip("/"): d for d in receiver.wait_for(len(receiver.deliveries))}
    seconds: dict[str, list[float]] = {"delete": [], "update": [], "join": [], "leave": []}
    after: list[float] = []
    after_group: list[float] = []
    statuses = set()
    for kind, user_id, _ in jobs:
        delivery = arrivals[user_id]
        statuses.add(delivery.body["Status"])
        seconds[kind].append(delivery.at - started[user_id])
        if kind == "delete":
            after.append(delivery.at - api.gone_at[user_id])
        if kind in ("join", "leave"):
            after_group.append(delivery.at - api.group_active_at[f"group-{user_id}"])
    table(
        f"Busy users (median of {repeats}, production schedule)",
        ["request", "request -> answer", "answers"],
        [
            [
                f"Delete, user modifying {MODIFYING:g} s, then deleting {DELETION:g} s",
                f"{median(seconds['delete']):.2f} s",
                ", ".join(sorted(statuses)),
            ],
            [f"Update, 2 tag changes, {TAG_COOLDOWN:g} s tagging cooldown", f"{median(seconds['update']):.2f} s", ""],
            [f"Create joining 1 group, group change {GROUP_CHANGE:g} s", f"{median(seconds['join']):.2f} s", ""],
            [f"Delete of a group member, group change {GROUP_CHANGE:g} s", f"{median(seconds['leave']):.2f} s", ""],
        ],
        [
            f"Delete: the answer arrived a median {median(after):.2f} s after the user disappeared.",
            f"Groups: the answer arrived a median {median(after_group):.2f} s after the group was active again "
            "(worst of the join and delete rows: "
            f"{max(after_group):.2f} s).",
        ],
    )
    return {
        "busy_delete": median(seconds["delete"]),
        "busy_update": median(seconds["update"]),
        "group_lag": median(after_group),
    }
