"""Create: validated properties, ownership tags, waiting until active, no orphans."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.fake_elasticache import FakeElastiCache
from local.iam_gate import operator_client
from local.receiver import Receiver
from tests.conftest import OWNER, Invoke, load_event, with_properties


def create_event(receiver: Receiver, **properties: Any) -> dict[str, Any]:
    return with_properties(load_event("create.json", receiver), **properties)


def test_create_against_moto_returns_user_id_and_attributes(moto: str, receiver: Receiver, invoke: Invoke) -> None:
    [answer] = invoke(create_event(receiver, UserId="App-User-1"))
    body = answer.body
    assert body["Status"] == "SUCCESS", body
    assert body["PhysicalResourceId"] == "app-user-1"
    assert body["Data"]["Arn"].endswith(":user:app-user-1")
    assert body["Data"]["UserId"] == "app-user-1"
    assert body["Data"]["Status"] == "active"
    assert body["Data"]["Engine"] == "redis"
    assert body["Data"]["AuthenticationType"] == "password" and body["Data"]["PasswordCount"] == "1"
    assert set(body["Data"]) == {
        "Arn",
        "UserId",
        "UserName",
        "Status",
        "Engine",
        "MinimumEngineVersion",
        "UserGroupIds",
        "AuthenticationType",
        "PasswordCount",
    }
    client = operator_client("elasticache")
    tags = {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceName=body["Data"]["Arn"])["TagList"]}
    assert tags == {**OWNER, "team": "payments"}


def test_create_waits_until_the_user_is_active(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    fake.create_seconds = 0.5
    [answer] = invoke(create_event(receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["Data"]["Status"] == "active"
    assert fake.count("DescribeUsers") >= 2


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"UserId": None}, "UserId is required"),
        ({"UserId": "1user"}, "UserId must start with a letter"),
        ({"UserId": "user_1"}, "UserId must start with a letter"),
        ({"UserId": "u" * 41}, "at most 40"),
        ({"UserId": 12}, "UserId must be a string"),
        ({"UserName": None}, "UserName is required"),
        ({"UserName": "two words"}, "UserName must be at most 120 characters and hold no white space"),
        ({"Engine": "memcached"}, "Engine must be redis or valkey"),
        ({"AccessString": None}, "AccessString is required"),
        ({"AccessString": "   "}, "AccessString must not be blank"),
        ({"Passwords": ["short"]}, "Passwords[0] must be 16 to 128 characters long (got 5)"),
        ({"Passwords": ["x" * 129]}, "Passwords[0] must be 16 to 128"),
        ({"Passwords": ["a" * 16, "b" * 16, "c" * 16]}, "Passwords must hold 1 or 2 passwords (got 3)"),
        ({"Passwords": []}, "Passwords must hold 1 or 2 passwords (got 0)"),
        ({"Passwords": ["with space in it 123"]}, "Passwords[0] may hold only printable ASCII"),
        ({"Passwords": ["with@at-sign-1234567"]}, "Passwords[0] may hold only printable ASCII"),
        ({"Passwords": ['with"quote-1234567']}, "Passwords[0] may hold only printable ASCII"),
        ({"Passwords": ["with/slash-12345678"]}, "Passwords[0] may hold only printable ASCII"),
        ({"Passwords": ["with,comma-12345678"]}, "other than space, ',', '\"', '/' and '@'"),
        ({"Passwords": ["ünïcödé-pässwörd-123"]}, "Passwords[0] may hold only printable ASCII"),
        ({"Passwords": "not-a-list-123456789"}, "Passwords must be a list of strings"),
        ({"Passwords": None}, "Set exactly one of Passwords"),
        ({"NoPasswordRequired": "true"}, "(got Passwords, NoPasswordRequired)"),
        ({"NoPasswordRequired": "yes"}, "NoPasswordRequired must be true or false"),
        ({"AuthenticationMode": {"Type": "iam"}}, "(got Passwords, AuthenticationMode)"),
        ({"Passwords": None, "AuthenticationMode": {"Type": "kerberos"}}, "AuthenticationMode.Type must be one of"),
        (
            {"Passwords": None, "AuthenticationMode": {"Type": "iam"}, "UserName": "someone"},
            "UserId must equal UserName",
        ),
        ({"Passwords": None, "AuthenticationMode": {"Type": "iam", "Passwords": ["a" * 16]}}, "only allowed with Type"),
        (
            {"Passwords": None, "AuthenticationMode": {"Type": "password"}},
            "AuthenticationMode.Passwords must be a list",
        ),
        ({"Passwords": None, "NoPasswordRequired": "true", "Engine": "valkey"}, "Valkey users cannot be no-password"),
        ({"Passwords": None, "Engine": "VALKEY", "AuthenticationMode": {"Type": "no-password-required"}}, "Valkey"),
        ({"Tags": [{"Key": "aws:x", "Value": "1"}]}, "reserved"),
        ({"Tags": [{"Key": "elasticache-user-resource:stack-id", "Value": "1"}]}, "reserved"),
        ({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}, "appears twice"),
        ({"Tags": {"a": "b"}}, "Tags must be a list"),
        ({"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(48)]}, "Tags may hold at most 47 tags (got 48)"),
        ({"Tags": [{"Key": "k" * 129, "Value": "v"}]}, "Key must be 1 to 128 characters"),
        ({"Tags": [{"Key": "k", "Value": "v" * 257}]}, "Value at most 256"),
        ({"UserName": "n" * 121}, "UserName must be at most 120 characters"),
        ({"Tags": [{"Key": "a"}]}, "Tags[0] must be an object with string Key and Value"),
        ({"AdoptExistingUser": "maybe"}, "AdoptExistingUser must be true or false"),
        ({"Passwrds": ["a" * 16]}, "Unknown property(ies): Passwrds"),
    ],
)
def test_invalid_properties_fail_before_any_api_call(
    changes: dict[str, Any], expected: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    event = create_event(receiver, **changes)
    [answer] = invoke(event)
    assert answer.body["Status"] == "FAILED"
    assert expected in answer.body["Reason"], answer.body["Reason"]
    assert fake.calls == []
    # The rollback Delete of the failed Create deletes nothing.
    rollback = load_event("delete.json", receiver, PhysicalResourceId=answer.body["PhysicalResourceId"])
    assert invoke(rollback)[-1].body["Status"] == "SUCCESS"
    assert fake.calls == []


@pytest.mark.parametrize(
    ("changes", "authentication"),
    [
        ({"Passwords": None, "NoPasswordRequired": "true"}, "no-password"),
        ({"Passwords": None, "NoPasswordRequired": True}, "no-password"),
        ({"NoPasswordRequired": "false"}, "password"),
        ({"NoPasswordRequired": "FALSE", "Engine": "Valkey"}, "password"),
        ({"Passwords": ["a" * 16, "B" * 128]}, "password"),
        ({"Passwords": None, "AuthenticationMode": {"Type": "password", "Passwords": ["p" * 20]}}, "password"),
        ({"Passwords": None, "AuthenticationMode": {"Type": "iam"}}, "iam"),
    ],
)
def test_valid_authentication_choices(
    changes: dict[str, Any], authentication: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    [answer] = invoke(create_event(receiver, **changes))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.users["app-user-1"].authentication_type == authentication


def test_existing_user_is_not_taken_and_not_deleted_by_the_rollback(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", tags={"owner": "someone-else"})
    [answer] = invoke(create_event(receiver))
    assert answer.body["Status"] == "FAILED"
    assert "already exists" in answer.body["Reason"] and "AdoptExistingUser" in answer.body["Reason"]
    assert answer.body["PhysicalResourceId"] != "app-user-1"
    rollback = load_event("delete.json", receiver, PhysicalResourceId=answer.body["PhysicalResourceId"])
    assert invoke(rollback)[-1].body["Status"] == "SUCCESS"
    assert "DeleteUser" not in fake.actions()
    assert fake.users["app-user-1"].tags == {"owner": "someone-else"}


def test_existing_user_is_adopted_when_allowed(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    fake.add_user("app-user-1", access_string="off", tags={"owner": "someone-else"})
    [answer] = invoke(create_event(receiver, AdoptExistingUser="true"))
    assert answer.body["Status"] == "SUCCESS"
    user = fake.users["app-user-1"]
    # Marked as taken over, in the same call as the ownership tags: not made by this stack.
    adopted = {"elasticache-user-resource:adopted": "6f1e4a52-0001-4c8e-9d1a-000000000001"}
    assert user.tags == {"owner": "someone-else", "team": "payments", **OWNER, **adopted}
    assert user.access_string == "on ~app:* +@read +@write"
    # Tagged as owned before it is changed (the IAM policy allows changes to owned users only);
    # the template's own tags only once ModifyUser succeeded, so a failed adoption adds none.
    actions = fake.actions()
    first_tags = actions.index("AddTagsToResource")
    assert first_tags < actions.index("ModifyUser") < len(actions) - 1 - actions[::-1].index("AddTagsToResource")
    assert fake.calls[first_tags][1].get("Tags.Tag.1.Key", "").startswith("elasticache-user-resource:")
    assert "elasticache-user-resource:adopted" in fake.calls[first_tags][1].values()
    assert "team" not in [v for k, v in fake.calls[first_tags][1].items() if k.endswith(".Key")]


def test_retried_create_reuses_the_user_it_made(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    event = create_event(receiver)
    first = invoke(event)[-1]
    second = invoke(event)[-1]
    assert first.body["Status"] == second.body["Status"] == "SUCCESS"
    assert second.body["PhysicalResourceId"] == "app-user-1"
    assert fake.count("CreateUser") == 2


def test_user_failing_after_creation_is_removed(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    fake.create_seconds = 0.2
    fake.create_settles_to = "incompatible-engine"
    [answer] = invoke(create_event(receiver))
    assert answer.body["Status"] == "FAILED"
    assert "'incompatible-engine'" in answer.body["Reason"]
    assert fake.count("DeleteUser") == 1 and "app-user-1" in fake.gone_at
    assert answer.body["PhysicalResourceId"] != "app-user-1"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("DuplicateUserName", "Another user already has the UserName"),
        ("UserQuotaExceeded", "quota"),
        ("InvalidParameterCombination", "refused by ElastiCache as invalid"),
    ],
)
def test_create_refusals_fail_with_a_clear_reason(
    code: str, expected: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.faults = [("CreateUser", code)]
    [answer] = invoke(create_event(receiver))
    assert answer.body["Status"] == "FAILED"
    assert expected in answer.body["Reason"]
    assert "DeleteUser" not in fake.actions()


def test_passwords_from_secrets_manager(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    secret = "Secret-From-SM-0001"
    operator_client("secretsmanager").create_secret(
        Name="elasticache/sm-user", SecretString=json.dumps({"password": secret})
    )
    event = create_event(receiver, Passwords=None, PasswordSecretId="elasticache/sm-user")
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.engine and fake.engine.authenticates("app-user-1", secret)  # the engine takes it
    assert secret not in json.dumps(answer.body) and answer.body["NoEcho"] is False


def test_passwords_from_ssm_secure_string(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    values = ["Secret-From-SSM-001", "Secret-From-SSM-002"]
    operator_client("ssm").put_parameter(Name="/elasticache/ssm-user", Value=json.dumps(values), Type="SecureString")
    [answer] = invoke(create_event(receiver, Passwords=None, PasswordParameterName="/elasticache/ssm-user"))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.engine and all(fake.engine.authenticates("app-user-1", value) for value in values)


def test_unreadable_or_invalid_secret_fails_without_its_value(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    [missing] = invoke(create_event(receiver, Passwords=None, PasswordSecretId="elasticache/absent"))
    assert missing.body["Status"] == "FAILED"
    assert (
        "PasswordSecretId 'elasticache/absent' could not be read (ResourceNotFoundException)" in missing.body["Reason"]
    )
    operator_client("secretsmanager").create_secret(Name="elasticache/too-short", SecretString="tiny-secret")
    receiver.reset()
    [short] = invoke(create_event(receiver, Passwords=None, PasswordSecretId="elasticache/too-short"))
    assert "The passwords in PasswordSecretId[0] must be 16 to 128" in short.body["Reason"]
    assert "tiny-secret" not in json.dumps(short.body)
    assert fake.calls == []
