"""Update: in place through ModifyUser, or by replacement, and the rollback of either."""

from __future__ import annotations

import json
from typing import Any

from local.fake_elasticache import FakeElastiCache
from local.iam_gate import operator_client
from local.receiver import Receiver
from tests.conftest import OWNER, Invoke, load_event, stored_poll, with_properties


def existing(fake: FakeElastiCache, user_id: str = "app-user-1") -> None:
    fake.add_user(
        user_id,
        access_string="on ~app:* +@read +@write",
        passwords=["Example-Passw0rd-1234567"],
        tags={**OWNER, "team": "payments"},
    )


def update_event(receiver: Receiver, **properties: Any) -> dict[str, Any]:
    """An in-place Update from the sample properties, with `properties` changed."""
    event = load_event("update.json", receiver)
    return with_properties({**event, "ResourceProperties": event["OldResourceProperties"]}, **properties)


def modify_params(fake: FakeElastiCache) -> list[dict[str, str]]:
    return [params for action, params in fake.calls if action == "ModifyUser"]


def test_access_string_change_is_modified_in_place(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    existing(fake)
    fake.modify_seconds = 0.3
    [answer] = invoke(load_event("update.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "app-user-1"
    assert answer.body["Data"]["Status"] == "active"
    assert modify_params(fake) == [{"UserId": "app-user-1", "AccessString": "on ~app:* +@read"}]
    assert "CreateUser" not in fake.actions()


def test_password_change_sends_only_the_new_passwords(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    existing(fake)
    [answer] = invoke(update_event(receiver, Passwords=["New-Password-00001", "New-Password-00002"]))
    assert answer.body["Status"] == "SUCCESS"
    [params] = modify_params(fake)
    assert params["AuthenticationMode.Type"] == "password" and "AccessString" not in params
    engine = fake.engine
    assert engine and engine.authenticates("app-user-1", "New-Password-00001")
    assert engine.authenticates("app-user-1", "New-Password-00002")
    assert not engine.authenticates("app-user-1", "Example-Passw0rd-1234567")  # replaced, not added


def test_switch_to_iam_authentication_in_place(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    existing(fake)
    [answer] = invoke(update_event(receiver, Passwords=None, AuthenticationMode={"Type": "iam"}))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["Data"]["AuthenticationType"] == "iam"


def test_tag_changes_update_tags_and_keep_ownership(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    existing(fake)
    [answer] = invoke(update_event(receiver, Tags=[{"Key": "tier", "Value": "gold"}]))
    assert answer.body["Status"] == "SUCCESS"
    assert fake.users["app-user-1"].tags == {**OWNER, "tier": "gold"}
    assert modify_params(fake) == []


def test_modifying_user_is_retried_until_it_accepts(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    existing(fake)
    fake.hold("app-user-1", "modifying", 0.5)
    [answer] = invoke(load_event("update.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert fake.count("ModifyUser") >= 2
    assert fake.users["app-user-1"].access_string == "on ~app:* +@read"


def test_user_id_change_replaces_the_user(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    existing(fake)
    [answer] = invoke(load_event("update-replace.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "app-user-2"
    assert fake.users["app-user-2"].tags == {**OWNER, "team": "payments"}
    # The old user stays until CloudFormation's cleanup sends Delete for it.
    assert "app-user-1" in fake.users and "DeleteUser" not in fake.actions()


def test_engine_moves_in_place_to_valkey_but_not_back(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    existing(fake)
    [forward] = invoke(update_event(receiver, Engine="valkey"))
    assert forward.body["PhysicalResourceId"] == "app-user-1"
    assert modify_params(fake) == [{"UserId": "app-user-1", "Engine": "valkey"}]
    back = update_event(receiver, Engine="redis", UserId="app-user-3", UserName="app-user-3")
    back["OldResourceProperties"]["Engine"] = "valkey"
    assert invoke(back)[-1].body["PhysicalResourceId"] == "app-user-3"
    same_id = update_event(receiver, Engine="redis")
    same_id["OldResourceProperties"]["Engine"] = "valkey"
    refused = invoke(same_id)[-1].body
    # A new user with the same id cannot exist beside the old one: CloudFormation must be told.
    assert refused["Status"] == "FAILED" and refused["PhysicalResourceId"] == "app-user-1"


def test_rollback_of_a_replacement_returns_to_the_old_user(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    existing(fake)
    forward = load_event("update-replace.json", receiver)
    assert invoke(forward)[-1].body["PhysicalResourceId"] == "app-user-2"
    rollback = dict(forward)
    rollback["RequestId"] = "rollback-1"
    rollback["PhysicalResourceId"] = "app-user-2"
    rollback["ResourceProperties"], rollback["OldResourceProperties"] = (
        forward["OldResourceProperties"],
        forward["ResourceProperties"],
    )
    answer = invoke(rollback)[-1]
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert answer.body["PhysicalResourceId"] == "app-user-1"
    # CloudFormation then deletes the replacement; the original user is intact.
    cleanup = load_event("delete.json", receiver, PhysicalResourceId="app-user-2")
    assert invoke(cleanup)[-1].body["Status"] == "SUCCESS"
    assert set(fake.users) == {"app-user-1"}


def test_rollback_of_an_in_place_update(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    existing(fake)
    forward = load_event("update.json", receiver)
    invoke(forward)
    rollback = {**forward, "RequestId": "rollback-2"}
    rollback["ResourceProperties"], rollback["OldResourceProperties"] = (
        forward["OldResourceProperties"],
        forward["ResourceProperties"],
    )
    assert invoke(rollback)[-1].body["Status"] == "SUCCESS"
    assert fake.users["app-user-1"].access_string == "on ~app:* +@read +@write"


def test_invalid_update_fails_and_keeps_the_physical_id(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    existing(fake)
    [answer] = invoke(update_event(receiver, Passwords=["short"]))
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == "app-user-1"
    assert "Passwords[0]" in answer.body["Reason"] and fake.calls == []


def test_update_of_a_vanished_user_fails_clearly(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    [answer] = invoke(load_event("update.json", receiver))
    assert answer.body["Status"] == "FAILED"
    assert "'app-user-1' does not exist" in answer.body["Reason"]


def test_create_that_outlasts_the_invocation_is_finished_by_a_poll(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.create_seconds = 2.0
    assert invoke(load_event("create.json", receiver), timeout=3.0) == []
    _, stored = stored_poll()
    assert "Example-Passw0rd" not in stored
    answers = invoke(json.loads(stored), timeout=10.0)
    assert answers[-1].body["Status"] == "SUCCESS"
    assert answers[-1].body["PhysicalResourceId"] == "app-user-1"
    assert answers[-1].body["Data"]["Status"] == "active"
    assert "PhysicalResourceId" not in answers[-1].body["Data"]


def test_unreadable_old_properties_set_everything_again(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    existing(fake)
    event = load_event("update.json", receiver)
    event["OldResourceProperties"] = {"UserId": "app-user-1", "Passwords": "garbage"}
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS"
    [params] = modify_params(fake)
    assert params["AccessString"] == "on ~app:* +@read" and params["AuthenticationMode.Type"] == "password"
    assert fake.users["app-user-1"].tags == {**OWNER, "team": "payments"}


def test_update_that_outlasts_the_invocation_is_finished_by_a_poll(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    existing(fake)
    fake.modify_seconds = 2.0
    assert invoke(load_event("update.json", receiver), timeout=3.0) == []
    _, stored = stored_poll()
    assert "Example-Passw0rd" not in stored
    answers = invoke(json.loads(stored), timeout=10.0)
    assert [a.body["Status"] for a in answers] == ["SUCCESS"]
    assert answers[0].body["PhysicalResourceId"] == "app-user-1"
    assert answers[0].body["Data"]["Status"] == "active"
    assert operator_client("events").list_rules()["Rules"] == []
