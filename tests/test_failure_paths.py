"""Failure paths lose nothing: a request that fails never deletes, strips or leaves behind what
it did not make, and every invocation answers or hands over, whatever fails. Each test drives
the real request path (and CloudFormation's rollback) against the stateful fake and the
strict EventBridge + Lambda stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local import iam_gate
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver
from local.receiver import Receiver
from rules.property_table import ADOPTED_TAG as ADOPTED
from runtime.exceptions import redact
from tests.conftest import OWNER, ROOT, Invoke, aged, load_event, stored_poll, with_properties

FOREIGN = {"owner": "someone-else"}


def create(receiver: Receiver, **properties: Any) -> dict[str, Any]:
    return with_properties(load_event("create.json", receiver), **properties)


def rollback_of(answer: dict[str, Any], receiver: Receiver, **properties: Any) -> dict[str, Any]:
    """CloudFormation's rollback Delete of a FAILED Create: sent for the physical id it answered."""
    delete = load_event("delete.json", receiver, PhysicalResourceId=answer["PhysicalResourceId"])
    return with_properties(delete, **properties)


def replacement(receiver: Receiver, **properties: Any) -> dict[str, Any]:
    return with_properties(load_event("update-replace.json", receiver), **properties)


# 1. A failed adoption deletes nothing -------------------------------------------------------


def test_a_failed_adoption_answers_an_id_the_rollback_leaves_alone(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", access_string="on ~* +@all", tags=dict(FOREIGN))
    fake.broken["ModifyUser"] = "InvalidParameterValue"
    [answer] = invoke(create(receiver, AdoptExistingUser="true"))
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"].startswith("not-created_")
    assert invoke(rollback_of(answer.body, receiver, AdoptExistingUser="true"))[-1].body["Status"] == "SUCCESS"
    user = fake.users["app-user-1"]
    assert "DeleteUser" not in fake.actions() and user.access_string == "on ~* +@all"
    # The ownership tags and the take-over's mark stay (IAM forbids removing them, docs/security.md); the
    # template's are never set.
    assert user.tags == {**FOREIGN, **OWNER, ADOPTED: "6f1e4a52-0001-4c8e-9d1a-000000000001"}


def test_a_take_over_cut_short_by_the_timer_names_nothing(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", tags=dict(FOREIGN))
    fake.faults = [("ModifyUser", "slow")]
    fake.slow_seconds = 3.0
    # The call outlasts the invocation: crhelper's timer answers while the adoption runs.
    answers = invoke(create(receiver, AdoptExistingUser="true"), timeout=3.5, settle=4)
    assert answers and {a.body["PhysicalResourceId"] for a in answers} == {answers[0].body["PhysicalResourceId"]}
    assert answers[0].body["PhysicalResourceId"].startswith("not-created_")


# 2. The group undo removes only what the request added ---------------------------------------


@pytest.mark.parametrize("adopt", [False, True], ids=["retried-create", "adoption"])
def test_a_failed_take_over_keeps_the_groups_the_user_already_had(
    adopt: bool, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.group_modify_seconds = 0.05
    fake.add_user("app-user-1", tags=dict(FOREIGN if adopt else OWNER))
    fake.add_group("app-readers", members=("app-user-1",))
    fake.add_group("app-writers")
    fake.broken["ModifyUser"] = "InvalidParameterValue"
    event = create(receiver, UserGroupIds=["app-readers", "app-writers"], AdoptExistingUser=str(adopt).lower())
    [answer] = invoke(event)
    assert answer.body["Status"] == "FAILED"
    assert "app-user-1" in fake.groups["app-readers"].user_ids  # it was a member before: kept
    assert "app-user-1" not in fake.groups["app-writers"].user_ids  # this request joined it: undone
    assert invoke(rollback_of(answer.body, receiver))[-1].body["Status"] == "SUCCESS"
    assert "app-user-1" in fake.users and "DeleteUser" not in fake.actions()


# 3. Read-after-write lag is not "gone" ------------------------------------------------------


def test_a_user_just_created_is_not_taken_as_gone(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    fake.read_lag_seconds = 0.8
    fake.add_group("app-readers")
    [answer] = invoke(create(receiver, UserGroupIds=["app-readers"]))
    assert (answer.body["Status"], answer.body["PhysicalResourceId"]) == ("SUCCESS", "app-user-1"), answer.body
    assert fake.refused.get("UserNotFound", 0) >= 1  # the lag was met
    assert fake.groups["app-readers"].user_ids[-1] == "app-user-1"


def test_past_the_grace_period_a_vanished_user_fails_naming_it(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("READ_AFTER_WRITE_SECONDS", "0.3")
    fake.read_lag_seconds = 60  # never visible: after the grace period it counts as gone
    answer = invoke_fresh(create(receiver), receiver)
    assert answer["Status"] == "FAILED" and "User 'app-user-1' disappeared" in answer["Reason"]


def invoke_fresh(event: dict[str, Any], receiver: Receiver, timeout: float = 30) -> dict[str, Any]:
    """One request through a provider built now (settings read from the current environment)."""
    from provider.cfn_resource import UserResource
    from runtime.config import Settings

    UserResource(Settings.from_environment()).handle(event, LambdaContext(timeout))
    return receiver.wait_for(1)[-1].body


# 4. A failed Update echoes its own physical id, and removes the half-made replacement ---------


def test_a_failed_replacement_echoes_the_old_id_and_removes_the_new_user(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", tags={**OWNER, "team": "payments"})
    fake.add_group("app-readers")
    fake.broken["ModifyUserGroup"] = "InvalidParameterValue"
    [answer] = invoke(replacement(receiver, UserGroupIds=["app-readers"]))
    assert (answer.body["Status"], answer.body["PhysicalResourceId"]) == ("FAILED", "app-user-1")
    assert "app-user-2" not in fake.users and fake.accepted("CreateUser") == 1  # made, then removed
    assert "app-user-1" in fake.users


def test_a_replacement_removal_that_outlasts_the_invocation_is_handed_over(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", tags={**OWNER, "team": "payments"})
    fake.create_settles_to = "failed"  # the new user never becomes active
    fake.delete_seconds = 4.0
    assert invoke(replacement(receiver), timeout=4.0) == []  # handed over: nothing answered yet
    poll = json.loads(stored_poll()[1])
    assert (
        poll["PhysicalResourceId"] == "app-user-1" and poll["ElastiCacheUserPoll"]["resume"]["remove"] == "app-user-2"
    )
    [answer] = invoke(poll, timeout=30)
    assert (answer.body["Status"], answer.body["PhysicalResourceId"]) == ("FAILED", "app-user-1")
    assert "failed" in answer.body["Reason"] and "app-user-2" not in fake.users and "app-user-1" in fake.users


# 9. The answer always fits, and stays SUCCESS ------------------------------------------------


def test_a_user_in_a_hundred_long_named_groups_answers_success_within_4096_bytes(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.group_modify_seconds = 0.0
    groups = [f"g{i:03d}-" + "x" * 35 for i in range(100)]
    for group in groups:
        fake.add_group(group)
    [answer] = invoke(create(receiver, UserGroupIds=groups), timeout=120)
    assert answer.body["Status"] == "SUCCESS", answer.body.get("Reason")
    assert len(json.dumps(answer.body).encode()) <= 4096
    listed = answer.body["Data"]["UserGroupIds"]
    assert listed.endswith("...") and set(listed[:-3].rstrip(",").split(",")) < set(groups)
    assert all(fake.groups[g].user_ids[-1] == "app-user-1" for g in groups)


# 11. Redaction and the undo budget ----------------------------------------------------------


def test_a_password_holding_another_is_redacted_whole() -> None:
    short, long = "Example-Passw0rd-1234567", "Example-Passw0rd-1234567-and-more"
    text = redact(f"refused: {long}, {short}", [short, long])
    assert "and-more" not in text and short not in text


def test_group_changes_are_undone_even_when_the_deadline_cut_the_work(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.group_modify_seconds = 0.5  # undoing the join must wait for the group: time the deadline no longer has
    fake.add_user("app-user-1", tags={**OWNER, "team": "payments"})
    fake.add_group("app-writers", members=("app-user-1",))
    fake.faults = [("ModifyUser", "InvalidUserState")] * 200  # busy until the deadline
    event = load_event("update.json", receiver)
    event = with_properties(event, Passwords=["Another-Passw0rd-7654321"])
    event["OldResourceProperties"] = {**event["OldResourceProperties"], "UserGroupIds": ["app-writers"]}
    [answer] = invoke(event, timeout=6.0)
    assert answer.body["Status"] == "FAILED" and "passwords written in the template" in answer.body["Reason"]
    joined = [p for a, p in fake.calls if a == "ModifyUserGroup" and "UserIdsToAdd.member.1" in p]
    left = [p for a, p in fake.calls if a == "ModifyUserGroup" and "UserIdsToRemove.member.1" in p]
    assert len(left) == 1 and len(joined) == 1  # left, then undone (rejoined) after the deadline
    assert fake.wait_until(lambda f: "app-user-1" in f.groups["app-writers"].user_ids)


def test_what_could_not_be_undone_is_named_in_the_reason(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.group_modify_seconds = 0.05
    fake.add_user("app-user-1", tags={**OWNER, "team": "payments"})
    fake.add_group("app-writers")
    # The join goes through, ModifyUser is refused, and so is the undo's removal.
    fake.faults = [
        ("ModifyUserGroup", "pass"),
        ("ModifyUser", "InvalidParameterValue"),
        ("ModifyUserGroup", "AccessDenied"),
    ]
    [answer] = invoke(with_properties(load_event("update.json", receiver), UserGroupIds=["app-writers"]))
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == "app-user-1"
    assert "could not all be undone: leave 'app-writers' by hand" in answer.body["Reason"]


# Contract tests (cloudformation-cli's spirit), through the real request path ----------------


def test_create_then_delete_leaves_nothing(
    fake: FakeElastiCache, hand_over: FakeHandOver, receiver: Receiver, invoke: Invoke
) -> None:
    fake.group_modify_seconds = 0.05
    fake.add_group("app-readers")
    before = set(fake.users)
    [created] = invoke(create(receiver, UserGroupIds=["app-readers"]))
    assert created.body["Status"] == "SUCCESS"
    receiver.reset()
    [deleted] = invoke(load_event("delete.json", receiver))
    assert deleted.body["Status"] == "SUCCESS"
    assert set(fake.users) == before and fake.groups["app-readers"].user_ids == ["app-readers-default"]
    assert hand_over.leftovers() == {"rules": {}, "statements": []}


def test_delete_twice_succeeds(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    fake.add_user("app-user-1", tags=dict(OWNER))
    first = invoke(load_event("delete.json", receiver))[-1]
    second = invoke(load_event("delete.json", receiver))[-1]
    assert [first.body["Status"], second.body["Status"]] == ["SUCCESS", "SUCCESS"]
    assert fake.accepted("DeleteUser") == 1


def test_create_over_a_foreign_user_fails_and_the_rollback_leaves_it(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", access_string="on ~* +@all", tags=dict(FOREIGN))
    fake.add_group("app-readers", members=("app-user-1",))
    [answer] = invoke(create(receiver, UserGroupIds=["app-readers"]))
    assert answer.body["Status"] == "FAILED" and "already exists" in answer.body["Reason"]
    assert invoke(rollback_of(answer.body, receiver))[-1].body["Status"] == "SUCCESS"
    user = fake.users["app-user-1"]
    assert (user.tags, user.access_string, user.user_group_ids) == (FOREIGN, "on ~* +@all", ["app-readers"])
    assert not {"DeleteUser", "ModifyUser", "ModifyUserGroup", "AddTagsToResource"} & set(fake.actions())


def test_a_replacement_past_its_service_timeout_still_echoes_the_old_id(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", tags={**OWNER, "team": "payments"})
    fake.create_seconds = 600  # the new user stays creating
    assert invoke(replacement(receiver, ServiceTimeout="4"), timeout=3.5) == []
    poll = json.loads(stored_poll()[1])
    assert poll["PhysicalResourceId"] == "app-user-2"  # the poll works on the new user ...
    [answer] = invoke(aged(poll, 4.2), timeout=3.0)
    assert answer.body["Status"] == "FAILED" and "ServiceTimeout (4 s)" in answer.body["Reason"]
    assert answer.body["PhysicalResourceId"] == "app-user-1"  # ... and the failure answers the Update's own id


@pytest.mark.parametrize("poll_ends", ["gives up", "dies"])
def test_a_take_over_handed_over_never_names_the_adopted_user(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke, poll_ends: str
) -> None:
    from notifier import app as failure

    fake.add_user("app-user-1", tags=dict(FOREIGN))
    fake.faults = [("ModifyUser", "InvalidUserState")] * 100  # still busy at the deadline: handed over
    event = create(receiver, AdoptExistingUser="true", ServiceTimeout="4", Passwords=None, NoPasswordRequired="true")
    assert invoke(event, timeout=3.5) == []
    poll = json.loads(stored_poll()[1])
    if poll_ends == "gives up":
        invoke(aged(poll, 4.2), timeout=3.0)  # past ServiceTimeout: the poll answers FAILED
    else:
        # The poll's invocation died: Lambda hands its record to the notifier, which answers.
        record = json.loads((ROOT / "tests" / "events" / "async-failure-create.json").read_text())
        with iam_gate.acting("notifier"):
            failure.lambda_handler({**record, "requestPayload": poll}, LambdaContext(60))
    [answer] = receiver.wait_for(1)
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"].startswith("not-created_")
    assert "app-user-1" in fake.users and "DeleteUser" not in fake.actions()
