"""The drift function: changes made to this provider's users behind the stack's back are
reported, and repaired on request. No crhelper: scheduled by EventBridge (DriftCheckSchedule)
or invoked by hand.

CloudFormation's drift detection does not cover custom resources (cloudformation-coverage-
roadmap #557), and the native user's AccessString is write-only. So each run compares every
user this provider owns (its provider tag) with the applied-state record the provider wrote
(records.py), property by property (compare.py), and returns, logs and publishes the
report: metric `DriftedUsers`, and one EventBridge event per drifted user (detail-type
"ElastiCache user drift", default bus). Never a password.

Reads are paged (DescribeUsers and DescribeUserGroups, 100 a page; records 10 a page) and
every ElastiCache call waits for a token of a bucket filled at DRIFT_CALLS_PER_SECOND.

A user an operator holds (tag `elasticache-user-resource:hold`, its value why) is listed under
`held`, its drift entry says `Held`, and it is never repaired, whoever asks.

Repair needs two opt-ins: ALLOW_DRIFT_REPAIR (the provider's AllowDriftRepair parameter) and
the event (`{"repair": true}`, or `"Repair": true`). It puts back the access string, the
declared group memberships and the tags (not the ownership tags), with the provider's own
busy-user retries, ownership check and deadline; never passwords, never a user that is gone
(reported only) or that this provider does not own.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from cloudformation.records import Record, RecordError, RecordStore, base_path
from cloudformation.request import stack_name
from drift.compare import compare, consent_changes
from drift.repair import Repairer, repair
from elasticache.consent import verdict
from elasticache.groups import GroupMembership
from elasticache.limits import HOLD_TAG, PROVIDER_TAG
from elasticache.users import UserLifecycle
from runtime.clients import aws_client, bounded_by, new_elasticache_client
from runtime.config import Settings
from runtime.deadline import Deadline
from runtime.environment import SETTING
from runtime.exceptions import DeadlineReached, UserOperationError
from runtime.log import SERVICE, logger, quiet_libraries
from runtime.metrics import DRIFTED_USERS

PAGE = 100  # DescribeUsers / DescribeUserGroups MaxRecords: 20 to 100 (API reference)
EVENT_SOURCE = "elasticache-user-resource"
DETAIL_TYPE = "ElastiCache user drift"
EVENTS_PER_CALL = 10  # PutEvents takes at most 10 entries
Step = tuple[str, Callable[[], None]]  # a user, and what to do for it

metrics = Metrics(namespace=SETTING["POWERTOOLS_METRICS_NAMESPACE"].text(), service=SERVICE)


class TokenBucket:
    """At most `rate` calls a second, one at a time (no burst): ElastiCache's API rate is
    shared with every caller in the account and Region."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self._clock = rate, clock
        self._next = clock()
        self._lock = threading.Lock()

    def wait(self, deadline: Deadline) -> None:
        with self._lock:
            now = self._clock()
            delay = max(0.0, self._next - now)
            self._next = max(now, self._next) + 1 / self.rate
        if delay:
            deadline.sleep(delay)


@dataclass
class Scene:
    """What one run read of ElastiCache: users by id, the groups each user is in, groups by id."""

    users: dict[str, dict[str, Any]]
    members: dict[str, list[str]]
    groups: dict[str, Any]


def paced_client(bucket: TokenBucket, deadline: Deadline, margin: float) -> Any:
    """An ElastiCache client of this run whose every attempt first takes a token."""
    client = new_elasticache_client(os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"), margin)
    client.meta.events.register("before-send.elasticache", lambda **_: bucket.wait(deadline))
    return client


def read_records(store: RecordStore) -> tuple[dict[str, Record], dict[str, str]]:
    """Every record under the store's path (GetParametersByPath, 10 a page: its maximum), and
    the unreadable ones with why."""
    records: dict[str, Record] = {}
    unreadable: dict[str, str] = {}
    pages = store.client.get_paginator("get_parameters_by_path")
    for page in pages.paginate(Path=store.path, Recursive=False, PaginationConfig={"PageSize": 10}):
        for parameter in page.get("Parameters", []):
            user_id = str(parameter["Name"]).rsplit("/", 1)[-1]
            try:
                records[user_id] = Record.from_json(str(parameter.get("Value", "")))
            except RecordError as error:
                unreadable[user_id] = str(error)
    return records, unreadable


def read_scene(client: Any) -> Scene:
    """Every user and every group's members, page by page."""
    users: dict[str, dict[str, Any]] = {}
    members: dict[str, list[str]] = {}
    groups: dict[str, Any] = {}
    for page in client.get_paginator("describe_users").paginate(PaginationConfig={"PageSize": PAGE}):
        for user in page.get("Users", []):
            users[str(user["UserId"])] = dict(user)
    for page in client.get_paginator("describe_user_groups").paginate(PaginationConfig={"PageSize": PAGE}):
        for group in page.get("UserGroups", []):
            groups[str(group["UserGroupId"])] = group
            for user_id in group.get("UserIds", []):
                members.setdefault(str(user_id), []).append(str(group["UserGroupId"]))
    return Scene(users, members, groups)


def empty_report() -> dict[str, Any]:
    return {"checked": 0, "drifted": [], "repaired": [], "unknown": [], "held": [], "errors": []}


class DriftCheck:
    """One run: read, compare, repair if allowed and asked, report."""

    def __init__(self, settings: Settings, deadline: Deadline, repair: bool, store: RecordStore) -> None:
        self.settings, self.deadline, self.repair, self.store = settings, deadline, repair, store
        bucket = TokenBucket(SETTING["DRIFT_CALLS_PER_SECOND"].number())
        self.client = paced_client(bucket, deadline, settings.deadline_margin)
        self.lifecycle = UserLifecycle(self.client, settings.schedule, settings.read_after_write_seconds)
        self.report: dict[str, Any] = empty_report()
        groups = GroupMembership(self.client, settings.schedule, settings.read_after_write_seconds)
        self.repairer = Repairer(
            self.lifecycle, groups, deadline, settings.scope.user_group_id_prefix, self.report["errors"]
        )
        self.group_tags: dict[str, dict[str, str]] = {}  # read once a run (ListTagsForResource)
        # Per user, the declared groups whose consent could not be read: never rejoined by a repair.
        self.unread_consent: dict[str, dict[str, str]] = {}

    def run(self) -> dict[str, Any]:
        """Check every candidate first (the report is complete even when repairs are slow: a
        modification takes minutes with groups attached to caches), then repair in order."""
        records, unreadable = read_records(self.store)
        scene = read_scene(self.client)
        for user_id, why in sorted(unreadable.items()):
            self._unknown(user_id, f"its record is unreadable ({why})")
        candidates = sorted(
            u for u in set(scene.users) | set(records) if u.startswith(self.settings.scope.user_id_prefix)
        )
        repairs: list[Step] = []
        checks: list[Step] = [(u, functools.partial(self._check, u, scene, records, repairs)) for u in candidates]
        self._each(checks, "checked")
        self._each(repairs, "repaired (the next run goes on)")
        return self.report

    def _each(self, steps: list[Step], what: str) -> None:
        """Run each user's step within the deadline; one user's failure does not stop the others."""
        for index, (user_id, step) in enumerate(steps):
            try:
                with bounded_by(self.deadline):
                    step()
            except DeadlineReached:
                for left, _ in steps[index:]:
                    self.report["errors"].append({"UserId": left, "Error": f"not {what} before the deadline"})
                return
            except Exception as error:  # noqa: BLE001 - one user's failure must not hide the others.
                self.report["errors"].append({"UserId": user_id, "Error": f"{type(error).__name__}: {error}"[:500]})

    def _unknown(self, user_id: str, reason: str) -> None:
        self.report["unknown"].append({"UserId": user_id, "Reason": reason})

    def _check(self, user_id: str, scene: Scene, records: dict[str, Record], repairs: list[Step]) -> None:
        user, record = scene.users.get(user_id), records.get(user_id)
        if user is None and record is None:
            return
        if user is not None and str(user.get("Status")) != "active":
            # Its tags cannot be read before it is active: ours (a record) is checked next run.
            if record is not None:
                self._unknown(user_id, f"status '{user.get('Status')}': checked again next run")
            return
        tags = self.lifecycle.tags_of(user, self.deadline) if user is not None else {}  # type: ignore[arg-type]
        owned = user is not None and tags.get(PROVIDER_TAG) == self.settings.scope.provider_id
        held = tags.get(HOLD_TAG) if owned else None
        if held is not None:
            self.report["held"].append({"UserId": user_id, "Reason": held})
        if record is None:
            if owned:
                self.report["checked"] += 1
                self._unknown(user_id, "no applied-state record (made by an older provider version, or not recorded)")
            return  # a user of someone else's: not ours to look at
        self.report["checked"] += 1
        found = compare(record, user, tags, scene.members.get(user_id, []))
        found.changes.extend(consent_changes(self._refused(user_id, record, scene)))
        for what in found.uncompared:
            self._unknown(user_id, f"not compared: {what}")
        if found.other_groups:
            logger.info(
                "user is in groups it was not declared in", extra={"user_id": user_id, "groups": found.other_groups}
            )
        if not found.changes:
            return
        entry: dict[str, Any] = {
            "UserId": user_id,
            "StackId": record.stack_id,
            "LogicalResourceId": record.logical_id,
            "Changes": found.changes,
        }
        if found.other_groups:
            entry["OtherUserGroupIds"] = found.other_groups
        if held is not None:
            entry["Held"] = held
        self.report["drifted"].append(entry)
        if self.repair and held is not None:
            # An operator's lock-out (e.g. a compromised user disabled by hand) is never undone.
            self.report["errors"].append(
                {"UserId": user_id, "Error": f"not repaired: held by an operator (tag '{HOLD_TAG}'); remove it first"}
            )
        elif self.repair and user is not None:
            withheld = found.changes + consent_changes(self.unread_consent.get(user_id, {}))
            repairs.append((user_id, functools.partial(self._repair, user, tags, record, withheld, owned)))

    def _refused(self, user_id: str, record: Record, scene: Scene) -> dict[str, str]:
        """The declared groups whose owners no longer admit the record's stack (group -> why);
        only groups under UserGroupIdPrefix (the role reads no other group's tags)."""
        if not self.settings.scope.require_group_consent:
            return {}
        refused = {}
        for group_id in record.group_ids:
            group = scene.groups.get(group_id)
            if group is None or not group_id.startswith(self.settings.scope.user_group_id_prefix):
                continue
            if group_id not in self.group_tags:
                try:
                    self.group_tags[group_id] = self.repairer.groups.tags_of(group, user_id)
                except UserOperationError as error:  # the rest of the user's comparison still counts
                    self._unknown(user_id, f"consent of user group '{group_id}' not read: {error}"[:500])
                    # Consent not established is consent withheld: a repair never rejoins it.
                    self.unread_consent.setdefault(user_id, {})[group_id] = f"its consent was not read: {error}"
                    continue
            found = verdict(group_id, self.group_tags[group_id], stack_name(record.stack_id))
            if not found.admitted:
                refused[group_id] = found.reason
        return refused

    def _repair(
        self, user: dict[str, Any], tags: dict[str, str], record: Record, changes: list[dict[str, Any]], owned: bool
    ) -> None:
        done = repair(self.repairer, user, tags, record, changes, owned)
        if done:
            self.report["repaired"].append({"UserId": user["UserId"], "Changes": done})


def wants_repair(event: Any) -> bool:
    """The event's opt-in: {"repair": true} or {"Repair": true} (a bool, or the string "true")."""
    if not isinstance(event, dict):
        return False
    value = event.get("repair", event.get("Repair"))
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def publish(report: dict[str, Any], provider_id: str, margin: float) -> None:
    """One EventBridge event per drifted user (10 a call), on the default bus; the metric."""
    metrics.add_metric(name=DRIFTED_USERS, unit=MetricUnit.Count, value=len(report["drifted"]))
    entries = [
        {
            "Source": EVENT_SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps({**drifted, "ProviderId": provider_id}),
            "EventBusName": "default",
        }
        for drifted in report["drifted"]
    ]
    events = aws_client("events", margin) if entries else None
    for start in range(0, len(entries), EVENTS_PER_CALL):
        answer = events.put_events(Entries=entries[start : start + EVENTS_PER_CALL])  # type: ignore[union-attr]
        if answer.get("FailedEntryCount"):
            report["errors"].append({"Error": f"{answer['FailedEntryCount']} drift event(s) not published"})


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Check every owned user; return the report (repair as both opt-ins say)."""
    quiet_libraries()
    settings = Settings.from_environment()
    deadline = Deadline(context.get_remaining_time_in_millis() / 1000 - settings.deadline_margin)
    asked, allowed = wants_repair(event), SETTING["ALLOW_DRIFT_REPAIR"].flag()
    path = base_path()
    empty = empty_report()
    if not path:
        report = {**empty, "errors": [{"Error": "DRIFT_RECORD_PATH is empty: nothing was recorded to compare with."}]}
    else:
        check = DriftCheck(settings, deadline, asked and allowed, RecordStore(path))
        try:
            with bounded_by(deadline):  # throttling is retried while time is left (clients.py)
                report = check.run()
        except Exception as error:  # noqa: BLE001 - the report says why; nothing was changed.
            logger.exception("drift check failed")
            report = {
                **check.report,
                "errors": [*check.report["errors"], {"Error": f"{type(error).__name__}: {error}"[:500]}],
            }
    if asked and not allowed:
        report["errors"].append(
            {
                "Error": "repair was asked for, but the provider's AllowDriftRepair parameter is 'false': "
                "nothing repaired."
            }
        )
    try:
        with bounded_by(Deadline(max(1.0, settings.deadline_margin / 2))):
            publish(report, settings.scope.provider_id, settings.deadline_margin)
    except Exception as error:  # noqa: BLE001 - the report is still returned and logged.
        report["errors"].append({"Error": f"drift events not published: {type(error).__name__}: {error}"[:500]})
    logger.info("drift report", extra={"report": report})
    return report
