"""Every call a function makes is one its own role policy (template.yaml) allows. The
gate (local/iam_gate.py) judges every request of every test; these tests show what it found
and how a refusal looks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local import iam_gate
from local import rotation_driver as driver
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.fake_secrets import FakeSecrets
from local.receiver import Delivery, Receiver
from provider.cfn_resource import UserResource
from runtime.config import Settings
from tests.conftest import OWNER, Invoke, load_event, with_properties

SECRET_TAG = "elasticache-user-resource:password-secret"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def bound_user(fake: FakeElastiCache, secret: str) -> None:
    """app-user-1 as a Create with PasswordSecretId and Tags team=payments left it."""
    tags = {**OWNER, "team": "payments", SECRET_TAG: secret}
    fake.add_user("app-user-1", access_string="on ~app:* +@read", tags=tags)


def secret_update(receiver: Receiver, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    event = load_event("update.json", receiver)
    base = {**event["OldResourceProperties"], "AccessString": "on ~app:* +@read", "Passwords": None}
    event = with_properties({**event, "ResourceProperties": base}, **new)
    event["OldResourceProperties"] = with_properties({"ResourceProperties": base}, **old)["ResourceProperties"]
    return event


def tag_calls(fake: FakeElastiCache) -> list[tuple[str, list[str]]]:
    """Each tagging change the fake received, with the keys it named (retries of a call while
    the user is busy with the previous one counted once)."""
    calls: dict[tuple[str, tuple[str, ...]], None] = {}
    for action, params in fake.calls:
        if action in ("AddTagsToResource", "RemoveTagsFromResource"):
            keys = sorted(v for k, v in params.items() if k.startswith("TagKeys.member.") or k.endswith(".Key"))
            calls[(action, tuple(keys))] = None
    return [(action, list(keys)) for action, keys in calls]


def test_leaving_a_secret_and_a_template_tag_untags_each_kind_in_its_own_call(
    fake: FakeElastiCache, secrets: FakeSecrets, receiver: Receiver, invoke: Invoke
) -> None:
    """Finding 1: one RemoveTagsFromResource naming `team` and the binding tag is allowed by no
    statement (TagOwnedUsers excludes reserved keys, BindPasswordSecret allows only that one)."""
    bound_user(fake, "elasticache/moving-1")
    secrets.add("elasticache/moving-1", json.dumps({"password": "First-Passw0rd-000000001"}))
    old = {"PasswordSecretId": "elasticache/moving-1"}
    new = {"Passwords": ["Second-Passw0rd-00000002"], "Tags": []}
    [answer] = invoke(secret_update(receiver, old, new))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.users["app-user-1"].tags == OWNER
    assert tag_calls(fake) == [("RemoveTagsFromResource", ["team"]), ("RemoveTagsFromResource", [SECRET_TAG])]


def test_changing_the_secret_and_a_template_tag_tags_each_kind_in_its_own_call(
    fake: FakeElastiCache, secrets: FakeSecrets, receiver: Receiver, invoke: Invoke
) -> None:
    bound_user(fake, "elasticache/old-2")
    for name in ("elasticache/old-2", "elasticache/new-2"):
        secrets.add(name, json.dumps({"password": "First-Passw0rd-000000001"}))
    old = {"PasswordSecretId": "elasticache/old-2"}
    new = {"PasswordSecretId": "elasticache/new-2", "Tags": [{"Key": "team", "Value": "orders"}]}
    [answer] = invoke(secret_update(receiver, old, new))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.users["app-user-1"].tags == {**OWNER, "team": "orders", SECRET_TAG: "elasticache/new-2"}
    assert tag_calls(fake) == [("AddTagsToResource", ["team"]), ("AddTagsToResource", [SECRET_TAG])]


@pytest.fixture
def prefixed(monkeypatch: pytest.MonkeyPatch) -> Iterator[UserResource]:
    """A provider deployed with UserIdPrefix and UserGroupIdPrefix `app-`: its Scope and its
    role policy (the gate reads the same variables) both say so."""
    monkeypatch.setenv("USER_ID_PREFIX", "app-")
    monkeypatch.setenv("USER_GROUP_ID_PREFIX", "app-")
    yield UserResource(Settings.from_environment())


def answer(resource: UserResource, receiver: Receiver, event: dict[str, Any]) -> Delivery:
    before = len(receiver.deliveries)
    resource.handle(event, LambdaContext(30))
    return receiver.wait_for(before + 1)[-1]


def test_a_delete_waits_only_for_the_groups_the_role_may_read(
    fake: FakeElastiCache, prefixed: UserResource, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 2: someone else also put the user into `other-grp`; DescribeUserGroups on it is
    refused to the role, so waiting for it failed the Delete after the user was gone."""
    fake.add_user("app-user-1", tags=dict(OWNER))
    for group in ("app-grp", "other-grp"):
        fake.add_group(group, members=("app-user-1",))
    done = answer(prefixed, receiver, load_event("delete.json", receiver))
    assert done.body["Status"] == "SUCCESS", done.body["Reason"]
    assert "'other-grp'" in done.body["Reason"] and "UserGroupIdPrefix 'app-'" in done.body["Reason"]
    assert "app-user-1" not in fake.users
    described = [p.get("UserGroupId") for action, p in fake.calls if action == "DescribeUserGroups"]
    assert "app-grp" in described and "other-grp" not in described
    assert "not waiting for user groups outside UserGroupIdPrefix" in caplog.text


def test_a_refused_request_answers_as_aws_does(fake: FakeElastiCache, prefixed: UserResource) -> None:
    fake.add_group("other-grp")
    with pytest.raises(ClientError) as refused:
        boto3.client("elasticache").describe_user_groups(UserGroupId="other-grp")
    error = refused.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert error["Error"]["Message"] == (
        f"User: {iam_gate.principal_arn('provider')} is not authorized to perform: elasticache:DescribeUserGroups "
        "on resource: arn:aws:elasticache:us-east-1:123456789012:usergroup:other-grp because no identity-based "
        "policy allows the elasticache:DescribeUserGroups action"
    )
    # The notifier may read users, never change them.
    fake.add_user("app-user-1", tags=dict(OWNER))
    with iam_gate.acting("notifier"), pytest.raises(ClientError, match="elasticache:DeleteUser"):
        boto3.client("elasticache").delete_user(UserId="app-user-1")


def test_a_prefixed_provider_creates_updates_and_deletes_within_its_prefixes(
    fake: FakeElastiCache, prefixed: UserResource, receiver: Receiver
) -> None:
    for group in ("app-grp", "app-grp-2"):
        fake.add_group(group)
    create = with_properties(load_event("create.json", receiver), UserGroupIds=["app-grp"])
    assert answer(prefixed, receiver, create).body["Status"] == "SUCCESS"
    update = load_event("update.json", receiver)
    update["OldResourceProperties"] = {**update["OldResourceProperties"], "UserGroupIds": ["app-grp"]}
    update = with_properties(update, UserGroupIds=["app-grp-2"], Tags=[{"Key": "team", "Value": "orders"}])
    done = answer(prefixed, receiver, update)
    assert done.body["Status"] == "SUCCESS", done.body["Reason"]
    assert fake.users["app-user-1"].user_group_ids == ["app-grp-2"]
    assert answer(prefixed, receiver, load_event("delete.json", receiver)).body["Status"] == "SUCCESS"
    assert "app-user-1" not in fake.users and "AccessDenied" not in fake.refused


def test_a_secret_under_a_customer_key_needs_the_key_in_kms_key_arns(
    fake: FakeElastiCache, secrets: FakeSecrets, receiver: Receiver, invoke: Invoke
) -> None:
    secrets.add("elasticache/cmk-1", json.dumps({"password": "First-Passw0rd-000000001"}), kms_key_id=KEY)
    event = with_properties(load_event("create.json", receiver), Passwords=None, PasswordSecretId="elasticache/cmk-1")
    [refused] = invoke(event)
    assert refused.body["Status"] == "FAILED" and "(AccessDeniedException)" in refused.body["Reason"]
    assert fake.calls == []
    with iam_gate.parameters(KmsKeyArns=[KEY]):
        [created] = invoke({**event, "RequestId": "with-key"}, settle=0)[1:]
    assert created.body["Status"] == "SUCCESS", created.body["Reason"]


def test_rotating_a_secret_under_a_customer_key_needs_the_key_in_kms_key_arns(
    fake: FakeElastiCache, secrets: FakeSecrets
) -> None:
    name = "elasticache/cmk-rotated"
    fake.add_user("app-user-1", passwords=["First-Passw0rd-000000001"], tags={**OWNER, SECRET_TAG: name})
    arn = "arn:aws:elasticache:us-east-1:123456789012:user:app-user-1"
    value = {"username": "app-user-1", "password": "First-Passw0rd-000000001", "user_arn": arn}
    secrets.add(name, json.dumps(value), kms_key_id=KEY)
    with pytest.raises(ClientError, match="Access to KMS is not allowed"):
        driver.rotate(name, repeat=False, seconds=30)
    secrets.secrets[name].stages = {v: s for v, s in secrets.secrets[name].stages.items() if "AWSPENDING" not in s}
    with iam_gate.parameters(KmsKeyArns=[KEY]):
        driver.rotate(name, repeat=False, seconds=30)
    assert driver.password(name) != value["password"] and "AccessDenied" not in fake.refused


def test_a_request_signed_with_a_roles_name_is_judged_as_that_role(fake: FakeElastiCache) -> None:
    """A function run in a subprocess names its role as access key id (local/iam_gate.py)."""
    fake.add_user("app-user-1", tags=dict(OWNER))
    rotation = boto3.client("elasticache", aws_access_key_id="RotationRole", aws_secret_access_key="x")
    with pytest.raises(ClientError, match="elasticache:AddTagsToResource") as refused:
        rotation.add_tags_to_resource(ResourceName=fake.users["app-user-1"].arn, Tags=[{"Key": "a", "Value": "b"}])
    assert iam_gate.principal_arn("rotation") in str(refused.value)


def test_an_adoption_with_a_secret_and_tags_binds_the_secret_in_its_own_call(
    fake: FakeElastiCache, secrets: FakeSecrets, receiver: Receiver, invoke: Invoke
) -> None:
    """Found while writing the fix: a take-over never wrote the binding tag (the rotation function
    then refuses the user); written with the template's tags it needs a call of its own."""
    fake.add_user("app-user-1", tags={"owner": "someone-else"})
    secrets.add("elasticache/adopted-1", json.dumps({"password": "First-Passw0rd-000000001"}))
    properties = {"AdoptExistingUser": "true", "Passwords": None, "PasswordSecretId": "elasticache/adopted-1"}
    [answer] = invoke(with_properties(load_event("create.json", receiver), **properties))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.users["app-user-1"].tags[SECRET_TAG] == "elasticache/adopted-1"
    assert ("AddTagsToResource", [SECRET_TAG]) in tag_calls(fake)


def test_a_user_of_another_stack_is_not_adopted_and_the_reason_says_why(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """Adopting it would rewrite its ownership tags, which the role may not (TagNewUsers needs a
    user without a provider tag): refused before any change, with a reason instead of AccessDenied."""
    other_stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/other-stack/1"
    fake.add_user("app-user-1", tags={**OWNER, "elasticache-user-resource:stack-id": other_stack})
    [answer] = invoke(with_properties(load_event("create.json", receiver), AdoptExistingUser="true"))
    assert answer.body["Status"] == "FAILED" and "cannot be adopted" in answer.body["Reason"]
    assert "(stack-id)" in answer.body["Reason"] and "AddTagsToResource" not in fake.actions()
    assert fake.users["app-user-1"].tags["elasticache-user-resource:stack-id"] == other_stack
