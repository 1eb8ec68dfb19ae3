"""Passwords and access strings on a real engine: what the resource sets is what a client can
use. The stateful fake mirrors every user onto redis-server (local/fake_access.py); these
tests authenticate with the passwords and read the engine's ACLs back."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from local.engine import Engine
from local.fake_elasticache import FakeElastiCache
from local.iam_gate import operator_client
from local.receiver import Receiver
from tests.conftest import Invoke, load_event, with_properties

PASSWORD = "Example-Passw0rd-1234567"


def acl(engine: Engine, name: str) -> str:
    return engine.canonical(name)


def test_a_user_lives_on_the_engine_from_create_to_delete(
    fake: FakeElastiCache, engine: Engine, receiver: Receiver, invoke: Invoke
) -> None:
    [created] = invoke(load_event("create.json", receiver))
    assert created.body["Status"] == "SUCCESS"
    assert engine.authenticates("app-user-1", PASSWORD)
    assert not engine.authenticates("app-user-1", "Wrong-Passw0rd-1234567")
    # ElastiCache reports the access string in the engine's own form.
    described = operator_client("elasticache").describe_users(UserId="app-user-1")["Users"][0]["AccessString"]
    assert described == acl(engine, "app-user-1") == "on ~app:* -@all +@write +@read"

    receiver.reset()
    update = with_properties(load_event("update.json", receiver), Passwords=["Rotated-Passw0rd-000001", PASSWORD])
    [updated] = invoke(update)
    assert updated.body["Status"] == "SUCCESS"
    assert acl(engine, "app-user-1") == "on ~app:* -@all +@read"  # the new access, applied
    assert engine.authenticates("app-user-1", "Rotated-Passw0rd-000001") and engine.authenticates(
        "app-user-1", PASSWORD
    )

    receiver.reset()
    [deleted] = invoke(load_event("delete.json", receiver))
    assert deleted.body["Status"] == "SUCCESS"
    assert not engine.authenticates("app-user-1", PASSWORD) and acl(engine, "app-user-1") == ""


def test_a_replacement_moves_the_login_to_the_new_user(
    fake: FakeElastiCache, engine: Engine, receiver: Receiver, invoke: Invoke
) -> None:
    invoke(load_event("create.json", receiver))
    receiver.reset()
    [replaced] = invoke(load_event("update-replace.json", receiver))
    assert replaced.body["Status"] == "SUCCESS" and replaced.body["PhysicalResourceId"] == "app-user-2"
    assert engine.authenticates("app-user-2", PASSWORD)
    receiver.reset()
    invoke(load_event("delete.json", receiver))  # CloudFormation's clean-up of the old user
    assert not engine.authenticates("app-user-1", PASSWORD) and engine.authenticates("app-user-2", PASSWORD)


def test_a_no_password_user_needs_no_password_and_an_off_user_none_gets_in(
    fake: FakeElastiCache, engine: Engine, receiver: Receiver, invoke: Invoke
) -> None:
    event = with_properties(load_event("create.json", receiver), Passwords=None, NoPasswordRequired="true")
    assert invoke(event)[-1].body["Status"] == "SUCCESS"
    assert engine.authenticates("app-user-1", "anything-at-all")
    receiver.reset()
    update = load_event("update.json", receiver)
    update = with_properties(update, Passwords=None, NoPasswordRequired="true", AccessString="off ~app:* +@read")
    update["OldResourceProperties"] = event["ResourceProperties"]
    assert invoke(update)[-1].body["Status"] == "SUCCESS"
    assert not engine.authenticates("app-user-1", "anything-at-all")  # off: ElastiCache's default too


@pytest.mark.parametrize(
    ("access_string", "said"),
    [
        ("on ~* +@reads", "Unknown command or category"),
        ("on ~* >Some-Passw0rd-1", "Passwords cannot be specified"),
        ("on ~* +config", "restricted command"),
        ("on allkeys ~app:*", "Adding a pattern after the * pattern"),
    ],
)
def test_the_fake_refuses_what_elasticache_or_its_engine_refuses(
    fake: FakeElastiCache, access_string: str, said: str
) -> None:
    client = operator_client("elasticache")
    with pytest.raises(ClientError) as refused:
        client.create_user(
            UserId="u1", UserName="u1", Engine="redis", AccessString=access_string, NoPasswordRequired=True
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue" and said in str(refused.value)
    assert "u1" not in fake.users
