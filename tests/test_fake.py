"""The stand-ins are as unkind as AWS (docs/aws-behaviour.md): each behaviour
the provider must cope with, shown over HTTP with a plain boto3 client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudformation import request
from local import fake_handover
from local.clock import ManualClock
from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver, serve_hand_over
from local.fake_secrets import FakeSecrets, serve_secrets
from local.fake_wire import serve
from local.iam_gate import operator_client


@pytest.fixture
def api() -> Iterator[tuple[FakeElastiCache, Any]]:
    fake = FakeElastiCache(
        create_seconds=0.3, modify_seconds=0.3, tag_busy_seconds=0.4, modify_race_seconds=0.3, clock=ManualClock()
    )
    with serve(fake) as endpoint:
        client = operator_client(
            "elasticache", endpoint_url=endpoint, config=Config(retries={"mode": "standard", "max_attempts": 1})
        )
        yield fake, client


def later(fake: FakeElastiCache, seconds: float) -> None:
    """Let `seconds` pass for the fake's timers (its clock is moved by hand)."""
    assert isinstance(fake.clock, ManualClock)
    fake.clock.advance(seconds)


def error(call: Any, **arguments: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    response = raised.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def create(client: Any, user_id: str = "u1", tags: int = 0) -> str:
    answer = client.create_user(
        UserId=user_id,
        UserName=user_id,
        Engine="valkey",
        AccessString="on ~* +@all",
        AuthenticationMode={"Type": "iam"},
        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(tags)],
    )
    assert answer["Status"] == "creating"
    return str(answer["ARN"])


def status(client: Any, user_id: str = "u1") -> str:
    return str(client.describe_users(UserId=user_id)["Users"][0]["Status"])


def test_new_users_start_creating_and_refuse_tagging_until_active(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    arn = create(client)
    assert status(client) == "creating"
    code, message, http = error(client.list_tags_for_resource, ResourceName=arn)
    assert (code, http) == ("UserNotFound", 404) and "not available for tagging" in message
    later(fake, 0.35)
    assert status(client) == "active"
    assert client.list_tags_for_resource(ResourceName=arn)["TagList"] == []


def test_a_tag_change_leaves_tagging_busy_while_the_user_says_active(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds = 0
    arn = create(client)
    client.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "a", "Value": "1"}])
    assert status(client) == "active"
    code, message, _ = error(client.add_tags_to_resource, ResourceName=arn, Tags=[{"Key": "b", "Value": "2"}])
    assert code == "UserNotFound" and "not available for tagging" in message
    assert error(client.remove_tags_from_resource, ResourceName=arn, TagKeys=["a"])[0] == "UserNotFound"
    later(fake, 0.45)
    client.remove_tags_from_resource(ResourceName=arn, TagKeys=["a"])


def test_modify_user_races_after_a_wait_saw_active(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds = 0
    create(client)
    client.modify_user(UserId="u1", AccessString="on ~a:* +@read")
    assert error(client.modify_user, UserId="u1", AccessString="off")[0] == "InvalidUserState"
    later(fake, 0.32)
    assert status(client) == "active"
    code, message, _ = error(client.modify_user, UserId="u1", AccessString="off")
    assert code == "InvalidUserState" and message.endswith("Only active users can be modified.")
    later(fake, 0.3)
    client.modify_user(UserId="u1", AccessString="off")


def test_removing_a_missing_tag_and_exceeding_50_tags_are_refused(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds, fake.tag_busy_seconds = 0, 0
    arn = create(client, tags=49)
    assert error(client.remove_tags_from_resource, ResourceName=arn, TagKeys=["absent"])[:3:2] == ("TagNotFound", 404)
    client.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "k49", "Value": "v"}])
    code = error(client.add_tags_to_resource, ResourceName=arn, Tags=[{"Key": "k50", "Value": "v"}])[0]
    assert code == "TagQuotaPerResourceExceeded"
    assert error(create, client=client, user_id="u2", tags=51)[0] == "TagQuotaPerResourceExceeded"


def group(client: Any, group_id: str = "g1") -> dict[str, Any]:
    return dict(client.describe_user_groups(UserGroupId=group_id)["UserGroups"][0])


def test_a_group_change_leaves_the_group_modifying_and_refuses_another(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds, fake.group_modify_seconds = 0, 0.3
    fake.add_group("g1", engine="valkey")
    create(client)
    create(client, "u2")
    client.modify_user_group(UserGroupId="g1", UserIdsToAdd=["u1"])
    pending = group(client)
    assert pending["Status"] == "modifying" and "u1" not in pending["UserIds"]
    assert pending["PendingChanges"]["UserIdsToAdd"] == ["u1"]
    code, message, _ = error(client.modify_user_group, UserGroupId="g1", UserIdsToAdd=["u2"])
    assert code == "InvalidUserGroupState" and "Only active user groups can be modified." in message
    later(fake, 0.35)
    assert group(client)["Status"] == "active" and "u1" in group(client)["UserIds"]
    assert client.describe_users(UserId="u1")["Users"][0]["UserGroupIds"] == ["g1"]


def test_removing_a_non_member_fails_the_whole_call(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds = 0
    fake.add_group("g1")
    create(client)
    code, message, _ = error(client.modify_user_group, UserGroupId="g1", UserIdsToAdd=["u1"], UserIdsToRemove=["u9"])
    assert code == "InvalidParameterValue" and "is not a member of user group" in message
    assert group(client)["Status"] == "active" and "u1" not in group(client)["UserIds"]  # the addition was dropped


def test_group_rules_default_user_engine_and_missing_groups(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds = 0
    fake.add_group("g1", engine="valkey")
    assert error(client.modify_user_group, UserGroupId="g1", UserIdsToRemove=["g1-default"])[0] == "DefaultUserRequired"
    client.create_user(UserId="open", UserName="open", Engine="redis", AccessString="on", NoPasswordRequired=True)
    code, message, _ = error(client.modify_user_group, UserGroupId="g1", UserIdsToAdd=["open"])
    assert code == "InvalidParameterValue" and "valkey" in message
    assert error(client.describe_user_groups, UserGroupId="nope")[:3:2] == ("UserGroupNotFound", 404)


def test_a_group_holds_one_user_per_user_name(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.add_user("old", user_name="app")
    fake.add_user("new", user_name="app")
    fake.add_group("g1", members=("old",))
    code, message, _ = error(client.modify_user_group, UserGroupId="g1", UserIdsToAdd=["new"])
    assert (code, message) == ("DuplicateUserName", "A user with this username already exists.")
    # Added and removed in one call, the name is held once: accepted.
    client.modify_user_group(UserGroupId="g1", UserIdsToAdd=["new"], UserIdsToRemove=["old"])


def test_delete_user_leaves_its_groups_modifying_until_after_it_is_gone(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds, fake.delete_seconds, fake.group_modify_seconds = 0, 0.2, 0.3
    create(client)
    fake.add_group("g1", members=("u1",))
    client.delete_user(UserId="u1")
    assert group(client)["Status"] == "modifying"
    later(fake, 0.3)
    assert error(client.describe_users, UserId="u1")[0] == "UserNotFound"
    assert group(client)["Status"] == "modifying"
    later(fake, 0.3)
    assert group(client)["Status"] == "active" and "u1" not in group(client)["UserIds"]


def test_reads_lag_behind_writes(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds, fake.read_lag_seconds, fake.group_modify_seconds = 0, 0.3, 0
    fake.add_group("g1")
    arn = create(client)
    assert error(client.describe_users, UserId="u1")[:3:2] == ("UserNotFound", 404)
    assert error(client.list_tags_for_resource, ResourceName=arn)[0] == "UserNotFound"
    assert error(create, client=client)[0] == "UserAlreadyExists"  # the write side knows it
    later(fake, 0.35)
    assert status(client) == "active"
    client.modify_user_group(UserGroupId="g1", UserIdsToAdd=["u1"])
    assert group(client)["Status"] == "active" and "u1" not in group(client)["UserIds"]  # as it was
    later(fake, 0.35)
    assert "u1" in group(client)["UserIds"]


def test_a_broken_action_fails_every_time(api: tuple[FakeElastiCache, Any]) -> None:
    fake, client = api
    fake.create_seconds = 0
    create(client)
    fake.broken["ModifyUser"] = "InvalidParameterValue"
    for _ in range(3):
        assert error(client.modify_user, UserId="u1", AccessString="off")[0] == "InvalidParameterValue"
    assert status(client) == "active" and fake.users["u1"].access_string == "on ~* +@all"


@pytest.fixture
def hand_over_api() -> Iterator[tuple[FakeHandOver, Any, Any]]:
    api = FakeHandOver()
    with serve_hand_over(api) as endpoint:
        config = Config(retries={"mode": "standard", "max_attempts": 1})
        yield (
            api,
            operator_client("events", endpoint_url=endpoint, config=config),
            operator_client("lambda", endpoint_url=endpoint, config=config),
        )


def test_eventbridge_refuses_what_aws_refuses(hand_over_api: tuple[FakeHandOver, Any, Any]) -> None:
    _, events, _ = hand_over_api
    assert error(events.put_rule, Name="r" * 65, ScheduleExpression="rate(1 minute)")[0] == "ValidationException"
    assert error(events.put_rule, Name="a/b", ScheduleExpression="rate(1 minute)")[0] == "ValidationException"
    assert error(events.remove_targets, Rule="missing", Ids=["1"])[0] == "ResourceNotFoundException"
    assert (
        error(events.put_targets, Rule="missing", Targets=[{"Id": "1", "Arn": "a"}])[0] == "ResourceNotFoundException"
    )
    events.delete_rule(Name="missing")  # "If you call delete rule multiple times ... all calls will succeed"
    events.put_rule(Name="r1", ScheduleExpression="rate(1 minute)")
    big = [{"Id": "1", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "Input": "x" * 8193}]
    assert error(events.put_targets, Rule="r1", Targets=big)[0] == "ValidationException"
    events.put_targets(Rule="r1", Targets=[{**big[0], "Input": "x" * 8192}])
    code, message, _ = error(events.delete_rule, Name="r1")
    assert code == "ValidationException" and "has targets" in message
    events.remove_targets(Rule="r1", Ids=["1"])
    events.delete_rule(Name="r1")


def test_target_calls_can_partly_fail_with_http_200(hand_over_api: tuple[FakeHandOver, Any, Any]) -> None:
    api, events, _ = hand_over_api
    events.put_rule(Name="r1", ScheduleExpression="rate(1 minute)")
    api.partial_failures = {"PutTargets": 1, "RemoveTargets": 1}
    target = {"Id": "1", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "Input": "{}"}
    answer = events.put_targets(Rule="r1", Targets=[target])
    assert answer["FailedEntryCount"] == 1 and answer["FailedEntries"][0]["TargetId"] == "1"
    assert api.leftovers()["rules"] == {"r1": []}
    assert events.put_targets(Rule="r1", Targets=[target])["FailedEntryCount"] == 0
    assert events.remove_targets(Rule="r1", Ids=["1"])["FailedEntryCount"] == 1
    assert api.leftovers()["rules"] == {"r1": ["1"]}


def test_lambda_permissions_conflict_vanish_and_fill_up(hand_over_api: tuple[FakeHandOver, Any, Any]) -> None:
    _, _, lambda_ = hand_over_api
    grant = {
        "FunctionName": "user-provider-elasticache-user",
        "Action": "lambda:InvokeFunction",
        "Principal": "events.amazonaws.com",
        "SourceArn": "arn:aws:events:us-east-1:123456789012:rule/" + "r" * 64,
    }
    lambda_.add_permission(StatementId="s1", **grant)
    assert error(lambda_.add_permission, StatementId="s1", **grant)[:3:2] == ("ResourceConflictException", 409)
    assert error(lambda_.remove_permission, FunctionName=grant["FunctionName"], StatementId="nope")[0] == (
        "ResourceNotFoundException"
    )
    assert error(lambda_.add_permission, StatementId="s2", **{**grant, "FunctionName": "other"})[0] == (
        "ResourceNotFoundException"
    )
    # Leaked statements fill the function's 20 KB resource policy: then every hand-over fails.
    added = 1
    while True:
        try:
            lambda_.add_permission(StatementId=f"leak-{added}", **grant)
        except ClientError as refused:
            assert refused.response["Error"]["Code"] == "PolicyLengthExceededException"
            break
        added += 1
    assert 40 < added < 100
    lambda_.remove_permission(FunctionName=grant["FunctionName"], StatementId="s1")


def test_secrets_manager_versions_behave_as_documented() -> None:
    api = FakeSecrets()
    with serve_secrets(api) as endpoint:
        client = operator_client("secretsmanager", endpoint_url=endpoint)
        api.add("s1", "first", rotation_enabled=False)
        assert client.describe_secret(SecretId="s1")["RotationEnabled"] is False
        token = client.rotate_secret(SecretId="s1")["VersionId"]
        stages = client.describe_secret(SecretId="s1")["VersionIdsToStages"]
        assert stages[token] == ["AWSPENDING"] and client.describe_secret(SecretId="s1")["RotationEnabled"]
        # The pending version has no value until createSecret stores one.
        assert error(client.get_secret_value, SecretId="s1", VersionId=token, VersionStage="AWSPENDING")[0] == (
            "ResourceNotFoundException"
        )
        client.put_secret_value(
            SecretId="s1", ClientRequestToken=token, SecretString="new", VersionStages=["AWSPENDING"]
        )
        client.put_secret_value(
            SecretId="s1", ClientRequestToken=token, SecretString="new", VersionStages=["AWSPENDING"]
        )
        code = error(client.put_secret_value, SecretId="s1", ClientRequestToken=token, SecretString="other")[0]
        assert code == "ResourceExistsException"  # a version's value never changes
        current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
        code = error(
            client.update_secret_version_stage, SecretId="s1", VersionStage="AWSCURRENT", MoveToVersionId=token
        )[0]
        assert code == "InvalidParameterException"  # moving AWSCURRENT names its holder
        client.update_secret_version_stage(
            SecretId="s1", VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current
        )
        after = client.describe_secret(SecretId="s1")["VersionIdsToStages"]
        assert "AWSCURRENT" in after[token] and after[current] == ["AWSPREVIOUS"]
        assert client.get_secret_value(SecretId="s1")["SecretString"] == "new"
        password = client.get_random_password(PasswordLength=64, ExcludeCharacters=',"/@')["RandomPassword"]
        assert len(password) == 64 and not set(password) & set(',"/@ ')


def test_the_codes_eventbridge_limits_are_the_stand_ins_model() -> None:
    """The stand-in models EventBridge on its own (a wrong limit in the code must not be copied
    into the model); the code's limits are compared with it here."""
    assert fake_handover.RULE_NAME.pattern.endswith(f"{{1,{request.RULE_NAME_MAX}}}")
    assert fake_handover.INPUT_MAX == request.TARGET_INPUT_MAX
