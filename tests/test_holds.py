"""An operator's hold. An operator locks a user out behind the stack's back (a compromised user
disabled by hand) and tags it `elasticache-user-resource:hold` with why: the drift function
reports it and never repairs it, whoever asks; an Update of it answers FAILED naming the hold
and changes nothing; a Delete still deletes it. No function's role may write or remove that tag
(the IAM gate judges each call against template.yaml)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from elasticache.limits import HOLD_TAG, PROVIDER_TAG
from local import iam_gate
from local.fake_elasticache import FakeElastiCache
from local.fake_ssm import FakeSsm
from local.receiver import Receiver
from tests.conftest import OWNER, PROVIDER, Invoke, load_event, with_properties
from tests.test_drift import check, deploy, leave_group, set_access, update

WHY = "compromised 2026-12-07, ticket SEC-1234"
CHANGES = {"CreateUser", "ModifyUser", "DeleteUser", "AddTagsToResource", "RemoveTagsFromResource", "ModifyUserGroup"}


def held_after_a_lock_out(fake: FakeElastiCache) -> None:
    """What the operator did by hand: access off, out of its group, the hold tag on."""
    with fake.lock:
        set_access(fake, "off ~app:* +@read")
        leave_group(fake)
        fake.users["app-user-1"].tags[HOLD_TAG] = WHY


def state(fake: FakeElastiCache) -> Any:
    with fake.lock:
        user = fake.users["app-user-1"]
        return user.reported_access_string, dict(user.tags), sorted(user.user_group_ids), user.password_count


def test_drift_reports_a_held_user_with_its_changes_and_never_repairs_it(
    ssm: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFT_CALLS_PER_SECOND", "100")
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", "true")
    fake.add_group("app-readers")
    deploy(invoke, receiver)
    held_after_a_lock_out(fake)
    before = state(fake)
    fake.calls.clear()
    report = check({"repair": True})
    assert report["held"] == [{"UserId": "app-user-1", "Reason": WHY}]
    [drifted] = report["drifted"]
    assert drifted["Held"] == WHY
    assert {c["Property"] for c in drifted["Changes"]} == {"AccessString", "UserGroupIds"}  # not the hold tag
    assert report["repaired"] == []
    assert any(HOLD_TAG in e["Error"] and "not repaired" in e["Error"] for e in report["errors"])
    assert not [a for a, _ in fake.calls if a in CHANGES] and state(fake) == before


def test_an_update_of_a_held_user_fails_naming_the_hold_and_changes_nothing(
    ssm: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("app-readers")
    fake.add_group("app-writers")
    created = deploy(invoke, receiver)
    held_after_a_lock_out(fake)
    before = state(fake)
    for changes in ({"AccessString": "on ~* +@all", "UserGroupIds": ["app-readers", "app-writers"]}, {}):
        receiver.reset()
        fake.calls.clear()
        [answer] = invoke(update(receiver, created, **changes))
        assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == "app-user-1"
        assert f"is held ({HOLD_TAG}: '{WHY}')" in answer.body["Reason"]
        assert "Remove that tag" in answer.body["Reason"]
        assert not [a for a, _ in fake.calls if a in CHANGES] and state(fake) == before


def test_a_replacement_of_a_held_user_fails_before_making_the_new_one(
    ssm: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("app-readers")
    created = deploy(invoke, receiver)
    held_after_a_lock_out(fake)
    receiver.reset()
    fake.calls.clear()
    [answer] = invoke(update(receiver, created, UserId="app-user-2", UserName="app-user-2"))
    assert answer.body["Status"] == "FAILED" and HOLD_TAG in answer.body["Reason"]
    assert not [a for a, _ in fake.calls if a in CHANGES] and "app-user-2" not in fake.users


def test_a_delete_of_a_held_user_still_deletes_it(
    ssm: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("app-readers")
    deploy(invoke, receiver)
    held_after_a_lock_out(fake)
    receiver.reset()
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert "app-user-1" not in fake.users


def test_a_template_may_not_set_the_hold_tag(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    event = with_properties(load_event("create.json", receiver), Tags=[{"Key": HOLD_TAG, "Value": "mine"}])
    [answer] = invoke(event)
    assert answer.body["Status"] == "FAILED" and "reserved" in answer.body["Reason"]
    assert "CreateUser" not in fake.actions()


@pytest.mark.parametrize("function", sorted(iam_gate.ROLES))
def test_no_role_may_write_or_remove_the_hold_tag(function: str, fake: FakeElastiCache) -> None:
    """Even where a role may tag (the provider tags an untagged user as its own, TagNewUsers):
    one key of the call being the hold is enough for the explicit Deny (ForAnyValue)."""
    fake.add_user("app-user-1", tags={**OWNER, HOLD_TAG: WHY})
    fake.add_user("untagged")
    client = boto3.client("elasticache", aws_access_key_id=iam_gate.ROLES[function], aws_secret_access_key="x")
    calls: list[Callable[[], Any]] = [
        lambda: client.remove_tags_from_resource(ResourceName=fake.users["app-user-1"].arn, TagKeys=[HOLD_TAG]),
        lambda: client.add_tags_to_resource(
            ResourceName=fake.users["untagged"].arn,
            Tags=[{"Key": PROVIDER_TAG, "Value": PROVIDER}, {"Key": HOLD_TAG, "Value": "x"}],
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError, match="explicit deny"):
            call()
    assert fake.users["app-user-1"].tags[HOLD_TAG] == WHY and fake.users["untagged"].tags == {}


def test_a_poll_of_a_user_held_meanwhile_fails_and_undoes_nothing(
    ssm: FakeSsm, fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    """The operator holds the user while an Update of it is handed over: the poll answers FAILED
    naming the hold and leaves the groups as the request left them (an undo would put the user
    back into groups, or take it out of them, behind the operator's back)."""
    import json

    from tests.conftest import stored_poll

    fake.add_group("app-readers")
    fake.add_group("app-writers")
    created = deploy(invoke, receiver)
    receiver.reset()
    fake.modify_seconds = 2.0
    assert (
        invoke(update(receiver, created, AccessString="on ~* +@read", UserGroupIds=["app-writers"]), timeout=3.0) == []
    )
    poll = json.loads(stored_poll()[1])
    assert poll["ElastiCacheUserPoll"]["resume"]["joined"] == ["app-writers"]
    with fake.lock:
        fake.users["app-user-1"].tags[HOLD_TAG] = WHY
    fake.calls.clear()
    [answer] = invoke(poll)
    assert answer.body["Status"] == "FAILED" and HOLD_TAG in answer.body["Reason"]
    assert "joined 'app-writers'" in answer.body["Reason"] and "left 'app-readers'" in answer.body["Reason"]
    assert not [a for a, _ in fake.calls if a in CHANGES]
    assert fake.wait_until(lambda f: all(f.groups[g].status == "active" for g in ("app-readers", "app-writers")))
    members = {g: "app-user-1" in fake.groups[g].user_ids for g in ("app-readers", "app-writers")}
    assert members == {"app-readers": False, "app-writers": True}  # as the request left them


def test_an_edited_poll_cannot_swap_a_held_user_back_into_its_group(
    ssm: FakeSsm, fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    """The operator took the user out of its group and held it. During an Update of the same
    resource, a poll edited to "replace" that user (the id CloudFormation shows) with one that
    does not exist fails its work; its undo would swap the held user back into the group."""
    import json

    from tests.conftest import stored_poll

    fake.add_group("app-readers")
    fake.add_group("app-writers")
    created = deploy(invoke, receiver)
    receiver.reset()
    fake.modify_seconds = 2.0
    assert invoke(update(receiver, created, AccessString="on ~* +@read"), timeout=3.0) == []
    poll = json.loads(stored_poll()[1])
    held_after_a_lock_out(fake)
    resume = poll["ElastiCacheUserPoll"]["resume"]
    resume.update(replaces="app-user-1", joined=["app-readers"], left=[], swapped=["app-readers"])
    fake.calls.clear()
    [answer] = invoke({**poll, "PhysicalResourceId": "app-user-9"})
    assert answer.body["Status"] == "FAILED" and HOLD_TAG in answer.body["Reason"]
    assert not [a for a, _ in fake.calls if a in CHANGES]
    assert "app-user-1" not in fake.groups["app-readers"].user_ids
