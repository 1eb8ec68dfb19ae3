"""Drift. Each Create or Update records what it applied in Parameter Store (the
stand-in, local/fake_ssm.py); the drift function compares every owned user with its record,
reports each property that changed behind the stack's back, and repairs only when both the
provider's AllowDriftRepair and the event ask for it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local import iam_gate
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver
from local.fake_ssm import FakeSsm
from local.fake_state import FakeUser
from local.receiver import Receiver
from rules.property_table import SECRET_TAG
from tests.conftest import CONSENT_TAG, OWNER, STACK_ID, Invoke, load_event, stored_poll, with_properties

RECORD = "/elasticache-user-resource/user-provider/app-user-1"
PASSWORD = "Example-Passw0rd-1234567"
DRIFT = {"DetailType": "ElastiCache user drift", "Source": "elasticache-user-resource", "EventBusName": "default"}


@pytest.fixture
def scene(fake: FakeElastiCache, ssm: FakeSsm, hand_over: FakeHandOver, monkeypatch: pytest.MonkeyPatch) -> FakeSsm:
    """The fake ElastiCache, Parameter Store and EventBridge; the drift function unpaced."""
    monkeypatch.setenv("DRIFT_CALLS_PER_SECOND", "100")
    fake.add_group("app-readers")
    return ssm


def check(event: dict[str, Any] | None = None) -> dict[str, Any]:
    from drift import app as drift

    with iam_gate.acting("drift"):
        report: dict[str, Any] = drift.lambda_handler(
            event or {}, LambdaContext(60, function_name=iam_gate.FUNCTION_NAMES["drift"])
        )
    return report


def deploy(invoke: Invoke, receiver: Receiver, **properties: Any) -> dict[str, Any]:
    event = with_properties(load_event("create.json", receiver), UserGroupIds=["app-readers"], **properties)
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body
    return event


def update(receiver: Receiver, old: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """An Update from `old`'s properties to them with `properties` changed."""
    event = load_event("update.json", receiver)
    event = {
        **event,
        "ResourceProperties": old["ResourceProperties"],
        "OldResourceProperties": old["ResourceProperties"],
    }
    return with_properties(event, **properties)


def record(ssm: FakeSsm) -> dict[str, Any]:
    value: dict[str, Any] = ssm.values()[RECORD]
    return value


def set_access(fake: FakeElastiCache, access_string: str) -> None:
    user = fake.users["app-user-1"]
    user.access_string = access_string
    fake.mirror(user)


def leave_group(fake: FakeElastiCache) -> None:
    fake.groups["app-readers"].user_ids.remove("app-user-1")
    fake.users["app-user-1"].user_group_ids.remove("app-readers")


def tag(key: str, value: str | None) -> Callable[[FakeUser], None]:
    def change(user: FakeUser) -> None:
        if value is None:
            del user.tags[key]
        else:
            user.tags[key] = value

    return change


def test_a_create_records_what_it_applied_in_elasticaches_form_and_nothing_secret(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    deploy(invoke, receiver)
    raw = scene.parameters[RECORD].value
    assert PASSWORD not in raw and "PasswordCount" not in raw
    applied = record(scene)
    # The engine rewrites the declared "on ~app:* +@read +@write": that form is what is compared.
    assert applied["AccessString"] == fake.users["app-user-1"].reported_access_string != "on ~app:* +@read +@write"
    assert applied["AccessStringForm"] == "reported"
    assert applied["Tags"] == {"team": "payments"} and applied["OwnershipTags"] == OWNER
    assert applied["UserGroupIds"] == ["app-readers"] and applied["AuthenticationType"] == "password"
    assert (applied["StackId"], applied["LogicalResourceId"]) == (STACK_ID, "AppUser")
    report = check()
    assert report == {"checked": 1, "drifted": [], "repaired": [], "unknown": [], "held": [], "errors": []}


DRIFTS: list[tuple[str, Callable[[FakeElastiCache], None], dict[str, Any]]] = [
    (
        "AccessString",
        lambda fake: set_access(fake, "on ~* +@all"),
        {"Property": "AccessString", "Expected": "on ~app:* -@all +@write +@read", "Actual": "on ~* +@all"},
    ),
    (
        "Engine",
        lambda fake: setattr(fake.users["app-user-1"], "engine", "valkey"),
        {"Property": "Engine", "Expected": "redis", "Actual": "valkey"},
    ),
    (
        "AuthenticationMode",
        lambda fake: setattr(fake.users["app-user-1"], "authentication_type", "iam"),
        {"Property": "AuthenticationMode", "Expected": "password", "Actual": "iam"},
    ),
    (
        "UserGroupIds",
        leave_group,
        {"Property": "UserGroupIds", "Expected": ["app-readers"], "Actual": [], "Missing": ["app-readers"]},
    ),
    (
        "tag changed",
        lambda fake: tag("team", "other")(fake.users["app-user-1"]),
        {"Property": "Tags", "Key": "team", "Expected": "payments", "Actual": "other"},
    ),
    (
        "tag removed",
        lambda fake: tag("team", None)(fake.users["app-user-1"]),
        {"Property": "Tags", "Key": "team", "Expected": "payments", "Actual": None},
    ),
    (
        "tag added",
        lambda fake: tag("cost-centre", "42")(fake.users["app-user-1"]),
        {"Property": "Tags", "Key": "cost-centre", "Expected": None, "Actual": "42"},
    ),
    (
        "ownership tag",
        lambda fake: tag("elasticache-user-resource:logical-id", "OtherUser")(fake.users["app-user-1"]),
        {
            "Property": "Tags",
            "Key": "elasticache-user-resource:logical-id",
            "Expected": "AppUser",
            "Actual": "OtherUser",
        },
    ),
    (
        "Exists",
        lambda fake: fake.unmirror(fake.users.pop("app-user-1")),
        {"Property": "Exists", "Expected": True, "Actual": False},
    ),
]


@pytest.mark.parametrize(("name", "change", "expected"), DRIFTS, ids=[d[0] for d in DRIFTS])
def test_each_property_changed_behind_the_stacks_back_is_reported_and_published(
    scene: FakeSsm,
    fake: FakeElastiCache,
    hand_over: FakeHandOver,
    receiver: Receiver,
    invoke: Invoke,
    capsys: pytest.CaptureFixture[str],
    name: str,
    change: Callable[[FakeElastiCache], None],
    expected: dict[str, Any],
) -> None:
    deploy(invoke, receiver)
    with fake.lock:
        change(fake)
    capsys.readouterr()
    report = check()
    [drifted] = report["drifted"]
    assert (drifted["UserId"], drifted["StackId"], drifted["LogicalResourceId"]) == ("app-user-1", STACK_ID, "AppUser")
    [found] = drifted["Changes"]
    assert {k: v for k, v in found.items() if k in expected} == expected
    assert report["checked"] == 1 and report["repaired"] == [] and report["unknown"] == []
    [event] = hand_over.events
    assert {k: event[k] for k in DRIFT} == DRIFT
    assert json.loads(event["Detail"])["Changes"] == drifted["Changes"]
    out = capsys.readouterr().out
    assert '"DriftedUsers"' in out and PASSWORD not in out
    assert PASSWORD not in json.dumps(report)


def test_a_rotation_is_not_drift(scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    deploy(invoke, receiver)
    user = fake.users["app-user-1"]
    with fake.lock:  # what the rotation function's setSecret does: two passwords, new values
        user.passwords, user.password_count = ["Rotated-Passw0rd-0001", "Rotated-Passw0rd-0002"], 2
        fake.mirror(user)
    assert check()["drifted"] == []


def test_a_hand_made_user_is_ignored_and_an_unrecorded_owned_one_is_unknown(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    deploy(invoke, receiver)
    fake.add_user("hand-made", access_string="on ~* +@all", tags={"team": "ops"})
    fake.add_user("older-user", tags={**OWNER, "elasticache-user-resource:logical-id": "OlderUser"})
    report = check()
    assert report["checked"] == 2 and report["drifted"] == []
    assert [u["UserId"] for u in report["unknown"]] == ["older-user"]
    assert "hand-made" not in json.dumps(report)
    assert not any(a in fake.actions() for a in ("ModifyUser", "AddTagsToResource", "DeleteUser"))


def test_a_deleted_user_is_reported_and_never_made_again(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(invoke, receiver)
    del fake.users["app-user-1"]
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", "true")
    report = check({"repair": True})
    assert report["drifted"][0]["Changes"] == [{"Property": "Exists", "Expected": True, "Actual": False}]
    assert report["repaired"] == []
    assert "CreateUser" not in fake.actions()[fake.actions().index("DescribeUsers") :]


@pytest.mark.parametrize(("allowed", "event"), [("false", {"repair": True}), ("true", {}), ("true", {"repair": False})])
def test_repair_is_refused_unless_both_the_provider_and_the_event_ask(
    scene: FakeSsm,
    fake: FakeElastiCache,
    receiver: Receiver,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    allowed: str,
    event: dict[str, Any],
) -> None:
    deploy(invoke, receiver)
    set_access(fake, "on ~* +@all")
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", allowed)
    fake.calls.clear()
    report = check(event)
    assert report["repaired"] == [] and len(report["drifted"]) == 1
    assert {a for a, _ in fake.calls} <= {"DescribeUsers", "DescribeUserGroups", "ListTagsForResource"}
    if allowed == "false":
        assert "AllowDriftRepair" in report["errors"][0]["Error"]


def test_repair_puts_back_access_string_groups_and_tags_but_not_ownership(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(invoke, receiver)
    expected_access = fake.users["app-user-1"].reported_access_string
    with fake.lock:
        set_access(fake, "on ~* +@all")
        leave_group(fake)
        user = fake.users["app-user-1"]
        user.tags.update({"team": "other", "cost-centre": "42", "aws:cloudformation:stack-name": "x"})
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", "true")
    fake.calls.clear()
    report = check({"Repair": True})
    [repaired] = report["repaired"]
    assert {c["Property"] for c in repaired["Changes"]} == {"AccessString", "UserGroupIds", "Tags"}
    assert user.reported_access_string == expected_access
    assert "app-user-1" in fake.groups["app-readers"].user_ids
    assert user.tags == {**OWNER, "team": "payments", "aws:cloudformation:stack-name": "x"}
    assert not any(p.get("AuthenticationMode.Type") or p.get("Passwords.member.1") for _, p in fake.calls)
    assert check()["drifted"] == []


def test_repair_never_touches_a_user_the_provider_no_longer_owns(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(invoke, receiver)
    with fake.lock:
        set_access(fake, "on ~* +@all")
        fake.users["app-user-1"].tags["elasticache-user-resource:provider"] = "someone-else"
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", "true")
    fake.calls.clear()
    report = check({"repair": True})
    assert report["repaired"] == [] and {c["Property"] for c in report["drifted"][0]["Changes"]} == {
        "AccessString",
        "Tags",
    }
    assert {a for a, _ in fake.calls} <= {"DescribeUsers", "DescribeUserGroups", "ListTagsForResource"}


def test_a_record_that_cannot_be_written_does_not_fail_the_request(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    created = deploy(invoke, receiver)
    assert RECORD in scene.parameters
    scene.broken["PutParameter"] = "AccessDeniedException"
    receiver.reset()
    [answer] = invoke(update(receiver, created, AccessString="on ~app:* +@read"))
    assert answer.body["Status"] == "SUCCESS"
    assert any("applied-state record not written" in m for m in caplog.messages)
    assert RECORD not in scene.parameters  # the stale record is gone: unknown, not false drift
    report = check()
    assert report["drifted"] == [] and [u["UserId"] for u in report["unknown"]] == ["app-user-1"]


def test_a_record_over_parameter_stores_4096_characters_is_not_written_and_the_user_is_unknown(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    tags = [{"Key": f"k{i:02d}" + "k" * 125, "Value": "v" * 256} for i in range(40)]
    deploy(invoke, receiver, Tags=tags)
    assert RECORD not in scene.parameters
    assert any("applied-state record not written" in m for m in caplog.messages)
    assert [u["UserId"] for u in check()["unknown"]] == ["app-user-1"]


def test_a_rolled_back_update_records_the_rolled_back_state(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    created = deploy(invoke, receiver)
    before = record(scene)
    forward = update(receiver, created, AccessString="on ~app:* +@read", Tags=[{"Key": "team", "Value": "web"}])
    receiver.reset()
    [answer] = invoke(forward)
    assert answer.body["Status"] == "SUCCESS" and record(scene)["Tags"] == {"team": "web"}
    # Another resource failed: CloudFormation rolls back with the old properties as the new ones.
    back = {
        **load_event("update.json", receiver),
        "ResourceProperties": created["ResourceProperties"],
        "OldResourceProperties": forward["ResourceProperties"],
    }
    receiver.reset()
    [answer] = invoke(back)
    assert answer.body["Status"] == "SUCCESS"
    assert record(scene) == before
    assert check()["drifted"] == []


def test_a_failed_update_keeps_the_record_of_what_still_holds(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    created = deploy(invoke, receiver)
    before = record(scene)
    fake.broken["ModifyUser"] = "InvalidParameterValue"
    receiver.reset()
    [answer] = invoke(update(receiver, created, AccessString="on ~app:* +@read"))
    assert answer.body["Status"] == "FAILED"
    assert record(scene) == before


def test_a_delete_removes_the_record(scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    deploy(invoke, receiver)
    receiver.reset()
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "SUCCESS"
    assert scene.parameters == {}
    assert check()["checked"] == 0


def test_users_and_groups_are_read_in_pages_not_one_call_per_user(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    deploy(invoke, receiver)
    for index in range(150):
        fake.add_group(f"group-{index:03d}")  # with its own default user: 150 users more
    for index in range(50):
        fake.add_user(f"other-{index:03d}")
    fake.calls.clear()
    report = check()
    for action, pages in (("DescribeUsers", 3), ("DescribeUserGroups", 2)):
        calls = [p for a, p in fake.calls if a == action]
        assert len(calls) == pages and all(p.get("MaxRecords") == "100" and len(p) <= 2 for p in calls), action
    assert report["checked"] == 1 and report["drifted"] == []


def test_a_handed_over_create_records_the_declared_form_and_its_last_poll_elasticaches(
    scene: FakeSsm, fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_group("slow")
    fake.group_modify_seconds = 2.0
    assert invoke(with_properties(load_event("create.json", receiver), UserGroupIds=["slow"]), timeout=3.0) == []
    assert (record(scene)["AccessString"], record(scene)["AccessStringForm"]) == (
        "on ~app:* +@read +@write",
        "declared",
    )
    [answer] = invoke(json.loads(stored_poll()[1]), timeout=10.0)
    assert answer.body["Status"] == "SUCCESS"
    reported = fake.users["app-user-1"].reported_access_string
    assert (record(scene)["AccessString"], record(scene)["AccessStringForm"]) == (reported, "reported")
    assert check()["drifted"] == []


def test_repair_never_mixes_the_binding_tag_with_template_tags_in_one_tagging_call(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # IAM judges a tagging call by all its keys: the drift role allows each kind in its own statement.
    iam_gate.operator_client("secretsmanager").create_secret(
        Name="elasticache/drift-user", SecretString=json.dumps({"password": "Secret-From-SM-0001"})
    )
    deploy(invoke, receiver, Passwords=None, PasswordSecretId="elasticache/drift-user")
    user = fake.users["app-user-1"]
    with fake.lock:
        del user.tags[SECRET_TAG]
        user.tags["team"] = "other"
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", "true")
    fake.calls.clear()
    assert len(check({"repair": True})["repaired"]) == 1
    added = [{v for k, v in p.items() if k.endswith(".Key")} for a, p in fake.calls if a == "AddTagsToResource"]
    assert {"team"} in added and {SECRET_TAG} in added  # (retried while tagging is busy)
    assert all(keys in ({"team"}, {SECRET_TAG}) for keys in added)
    assert (user.tags[SECRET_TAG], user.tags["team"]) == ("elasticache/drift-user", "payments")


def test_a_secret_binding_added_behind_the_stacks_back_is_reported_and_removed_by_repair(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A binding tag lets the rotation function set this user's passwords from that secret:
    # one written by hand on a user declared with Passwords is drift, and repair removes it alone.
    deploy(invoke, receiver)
    user = fake.users["app-user-1"]
    with fake.lock:
        user.tags[SECRET_TAG] = "elasticache/someone-elses"
    [drifted] = check()["drifted"]
    assert [c for c in drifted["Changes"] if SECRET_TAG in json.dumps(c)], drifted
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", "true")
    fake.calls.clear()
    assert len(check({"repair": True})["repaired"]) == 1
    removed = [p for a, p in fake.calls if a == "RemoveTagsFromResource"]
    assert removed and all(p["TagKeys.member.1"] == SECRET_TAG and "TagKeys.member.2" not in p for p in removed)
    assert SECRET_TAG not in user.tags


@pytest.mark.parametrize("still_member", [True, False])
def test_a_membership_whose_owner_withdrew_consent_is_reported_and_never_repaired(
    still_member: bool,
    scene: FakeSsm,
    fake: FakeElastiCache,
    receiver: Receiver,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(invoke, receiver)
    with fake.lock:
        fake.groups["app-readers"].tags = {CONSENT_TAG: "orders-"}  # its owner admits only orders-* now
        if not still_member:
            leave_group(fake)
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", "true")
    fake.calls.clear()
    report = check({"repair": True})
    [drifted] = report["drifted"]
    [consent] = [c for c in drifted["Changes"] if c["Property"] == "UserGroupConsent"]
    assert consent["UserGroupIds"] == ["app-readers"]
    assert "stack 'app-stack' starts with none of them" in consent["Reasons"][0]
    assert not [a for a, _ in fake.calls if a == "ModifyUserGroup"]  # neither rejoined nor removed
    assert ("app-user-1" in fake.groups["app-readers"].user_ids) is still_member
    errors = " ".join(e["Error"] for e in report["errors"])
    assert "UserGroupConsent" in errors and (still_member or "withdrew consent): app-readers" in errors)


def test_a_consent_that_cannot_be_read_leaves_the_rest_of_the_report(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elasticache.groups import GroupMembership
    from runtime.exceptions import UserOperationError

    deploy(invoke, receiver)
    set_access(fake, "on ~* +@all")

    def refused(*_: object) -> dict[str, str]:
        raise UserOperationError("The provider's role may not read the tags of user group 'app-readers'")

    monkeypatch.setattr(GroupMembership, "tags_of", refused)
    report = check()
    assert [c["Property"] for c in report["drifted"][0]["Changes"]] == ["AccessString"]
    assert report["unknown"] == [
        {
            "UserId": "app-user-1",
            "Reason": "consent of user group 'app-readers' not read: The provider's role may not read the tags of "
            "user group 'app-readers'",
        }
    ]


def test_a_group_whose_consent_cannot_be_read_is_never_rejoined_by_a_repair(
    scene: FakeSsm, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consent not established is consent withheld: the user left its group behind the stack's
    back, the group's tags cannot be read (throttled, refused), so the repair leaves it out."""
    from elasticache.groups import GroupMembership
    from runtime.exceptions import UserOperationError

    deploy(invoke, receiver)
    leave_group(fake)

    def unreadable(*_: object) -> dict[str, str]:
        raise UserOperationError("ListTagsForResource throttled")

    monkeypatch.setattr(GroupMembership, "tags_of", unreadable)
    monkeypatch.setenv("ALLOW_DRIFT_REPAIR", "true")
    fake.calls.clear()
    report = check({"repair": True})
    assert [c["Property"] for c in report["drifted"][0]["Changes"]] == ["UserGroupIds"]
    assert not [a for a, _ in fake.calls if a == "ModifyUserGroup"]
    assert "app-user-1" not in fake.groups["app-readers"].user_ids
