"""Forged requests. Whoever may deploy a stack that uses the provider may invoke it with an
event of their own: each forged Create, Update, Delete, poll and failure record below changes
no user, group, tag or rule. The scene: the `orders` user belongs to another team's stack
(OrdersUser of orders-stack); the attacker deploys app-stack (AppUser, user app-user-1).

CloudFormation's side is set by hand here (`plays_cloudformation = False`): the stand-in shows
only what the real service would show at that moment (local/fake_cloudformation.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from local.context import LambdaContext
from local.fake_cloudformation import FakeCloudFormation
from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver
from local.fake_ssm import FakeSsm
from local.receiver import Receiver
from tests.conftest import CONSENT_TAG, OWNER, PROVIDER, STACK_ID, Invoke, load_event, stored_poll, with_properties

ORDERS_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/orders-stack/aaaaaaaa-1111-2222-3333-444455556666"
ORDERS_OWNER = {
    "elasticache-user-resource:provider": PROVIDER,
    "elasticache-user-resource:stack-id": ORDERS_STACK,
    "elasticache-user-resource:logical-id": "OrdersUser",
}
CHANGES = {"CreateUser", "ModifyUser", "DeleteUser", "AddTagsToResource", "RemoveTagsFromResource", "ModifyUserGroup"}
ROGUE_PROPERTIES = {"AccessString": "on ~* +@all", "Passwords": ["Attacker-Passw0rd-123456"]}


@pytest.fixture
def scene(fake: FakeElastiCache, cloudformation: FakeCloudFormation) -> FakeCloudFormation:
    """Both stacks settled; both users exist, each carrying its own stack's tags."""
    fake.add_user("orders", tags=dict(ORDERS_OWNER))
    fake.add_user("app-user-1", tags=dict(OWNER))
    fake.add_group("orders-group", members=("orders",), tags={CONSENT_TAG: "orders-"})
    cloudformation.plays_cloudformation = False
    cloudformation.put(ORDERS_STACK, "UPDATE_COMPLETE", "OrdersUser", "UPDATE_COMPLETE", "orders")
    cloudformation.put(STACK_ID, "UPDATE_COMPLETE", "AppUser", "UPDATE_COMPLETE", "app-user-1")
    return cloudformation


def state(fake: FakeElastiCache) -> Any:
    """Everything a forged request could change in ElastiCache."""
    with fake.lock:
        users = {u: (v.status, v.access_string, v.password_count, dict(v.tags)) for u, v in fake.users.items()}
        return users, {g: list(v.user_ids) for g, v in fake.groups.items()}


def assert_changed_nothing(fake: FakeElastiCache, before: Any) -> None:
    # A call ElastiCache refused (CreateUser of an existing user) changed nothing either.
    assert not [a for a in CHANGES if fake.succeeded.get(a)], fake.actions()
    assert state(fake) == before


def as_orders(event: dict[str, Any]) -> dict[str, Any]:
    """The event naming the other team's stack, resource and user."""
    return {**event, "StackId": ORDERS_STACK, "LogicalResourceId": "OrdersUser", "PhysicalResourceId": "orders"}


def owners_update(receiver: Receiver, **changes: Any) -> dict[str, Any]:
    """An Update of OrdersUser as the owner's template would have it sent (orders, in place)."""
    event = with_properties(as_orders(load_event("update.json", receiver)), UserId="orders", UserName="orders")
    event["OldResourceProperties"] = {**event["OldResourceProperties"], "UserId": "orders", "UserName": "orders"}
    return {**event, **changes}


def forged(receiver: Receiver, name: str, **changes: Any) -> dict[str, Any]:
    event = with_properties(load_event(name, receiver), UserId="orders", UserName="orders", **ROGUE_PROPERTIES)
    return {**event, **changes}


# Create, Update, Delete --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["create.json", "update.json", "delete.json"])
def test_ones_own_stack_naming_anothers_user_while_idle(
    name: str, scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    before = state(fake)
    event = forged(receiver, name, PhysicalResourceId="orders") if name != "create.json" else forged(receiver, name)
    [answer] = invoke(event)
    assert answer.body["Status"] == "FAILED" and "Request not confirmed" in answer.body["Reason"]
    assert_changed_nothing(fake, before)


@pytest.mark.parametrize("name", ["update.json", "delete.json"])
def test_the_owners_ids_while_its_stack_is_idle(
    name: str, scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    before = state(fake)
    [answer] = invoke(as_orders(forged(receiver, name)))
    assert answer.body["Status"] == "FAILED" and "UPDATE_COMPLETE naming 'orders'" in answer.body["Reason"]
    assert_changed_nothing(fake, before)
    assert scene.count("DescribeStackResource") == 1  # a refused status is final (CONFIRM_LAG_SECONDS=0 here)


def test_an_update_naming_anothers_user_during_ones_own_update(
    scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    scene.put(STACK_ID, "UPDATE_IN_PROGRESS", "AppUser", "UPDATE_IN_PROGRESS", "app-user-1")
    before = state(fake)
    [answer] = invoke(forged(receiver, "update.json", PhysicalResourceId="orders"))
    assert answer.body["Status"] == "FAILED" and "naming 'app-user-1'" in answer.body["Reason"]
    assert_changed_nothing(fake, before)


def test_a_replacement_onto_anothers_user_during_ones_own_update(
    scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """Confirmed (the attacker's own update is under way), but the take-over refuses a user
    another stack's tags name, even with AdoptExistingUser (the provider allows adoption here)."""
    scene.put(STACK_ID, "UPDATE_IN_PROGRESS", "AppUser", "UPDATE_IN_PROGRESS", "app-user-1")
    before = state(fake)
    event = with_properties(forged(receiver, "update.json"), AdoptExistingUser="true")
    [answer] = invoke(event)
    assert (answer.body["Status"], answer.body["PhysicalResourceId"]) == ("FAILED", "app-user-1")
    assert_changed_nothing(fake, before)


def test_a_delete_of_anothers_user_in_ones_own_cleanup_phase(
    scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """In a cleanup phase CloudFormation names another id than the Delete's, so the status
    confirms it: the ownership tags stop it, AdoptExistingUser or not."""
    scene.put(STACK_ID, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "AppUser", "UPDATE_COMPLETE", "app-user-1")
    before = state(fake)
    event = with_properties(forged(receiver, "delete.json", PhysicalResourceId="orders"), AdoptExistingUser="true")
    [answer] = invoke(event)
    assert answer.body["Status"] == "FAILED" and "ownership tags name another owner" in answer.body["Reason"]
    assert_changed_nothing(fake, before)


def test_a_delete_of_the_current_user_named_in_another_case_in_a_cleanup_phase(
    scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """The victim's own StackId and LogicalResourceId, while its stack cleans up after any
    update: CloudFormation shows 'orders', the forged Delete names 'ORDERS'. ElastiCache stores
    UserIds lowercase, so that is the resource's current user, not an old one to clean up."""
    scene.put(ORDERS_STACK, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "OrdersUser", "UPDATE_COMPLETE", "orders")
    before = state(fake)
    [answer] = invoke(as_orders(forged(receiver, "delete.json")) | {"PhysicalResourceId": "ORDERS"})
    assert answer.body["Status"] == "FAILED" and "does not show this Delete under way" in answer.body["Reason"]
    assert_changed_nothing(fake, before)
    assert "orders" in fake.users


def test_a_delete_in_ones_own_cleanup_phase_keeps_anothers_record(
    scene: FakeCloudFormation, fake: FakeElastiCache, ssm: FakeSsm, receiver: Receiver, invoke: Invoke
) -> None:
    """The owner's genuine Create recorded what it applied; the user is then deleted behind the
    stack's back (what the drift function must report). A forged Delete of it in one's own cleanup
    phase finds no user (deleted: SUCCESS), and leaves the record, which names another resource."""
    scene.plays_cloudformation = True
    create = with_properties(as_orders(load_event("create.json", receiver)), UserId="orders", UserName="orders")
    with fake.lock:
        fake.users.pop("orders")  # the owner's stack makes it anew
    [answer] = invoke({**create, "PhysicalResourceId": None})
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    [name] = ssm.values()
    assert ssm.values()[name]["StackId"] == ORDERS_STACK
    with fake.lock:
        fake.users.pop("orders")
    scene.plays_cloudformation = False
    scene.put(STACK_ID, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "AppUser", "UPDATE_COMPLETE", "app-user-1")
    receiver.reset()
    [answer] = invoke(forged(receiver, "delete.json", PhysicalResourceId="orders"))
    assert answer.body["Status"] == "SUCCESS"  # nothing to delete: the user is gone
    assert ssm.values()[name]["LogicalResourceId"] == "OrdersUser"
    assert ssm.count("DeleteParameter") == 0


def test_a_stack_of_another_region_or_account_is_refused(
    scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    before = state(fake)
    [answer] = invoke(forged(receiver, "delete.json", StackId=STACK_ID.replace("us-east-1", "eu-west-1")))
    assert "another region" in answer.body["Reason"] and scene.calls == []  # refused before any call
    receiver.reset()
    # The role may describe this account's stacks only (ConfirmRequests: stack/* of its account),
    # so IAM refuses another account's before CloudFormation could answer "does not exist".
    [answer] = invoke(forged(receiver, "delete.json", StackId=STACK_ID.replace("123456789012", "210987654321")))
    assert answer.body["Status"] == "FAILED" and "(AccessDenied)" in answer.body["Reason"]
    assert_changed_nothing(fake, before)


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker-bucket.s3.amazonaws.com/key?X-Amz-Signature=1",
        "https://s3.us-east-1.amazonaws.com/attacker-bucket/key",
        "https://cloudformation-custom-resource-response-uswest2.s3.us-west-2.amazonaws.com/key",
    ],
)
def test_a_response_url_on_another_bucket_is_ignored(
    url: str, scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    """Even the owner's genuine request under way: answers (the user's attributes) go to
    CloudFormation's own bucket only, so nothing is done for one nobody could be told of."""
    scene.put(ORDERS_STACK, "UPDATE_IN_PROGRESS", "OrdersUser", "UPDATE_IN_PROGRESS", "orders")
    before = state(fake)
    assert invoke(owners_update(receiver, ResponseURL=url)) == []
    assert scene.calls == [] and fake.calls == []
    assert_changed_nothing(fake, before)


# Polls -------------------------------------------------------------------------------------


def poll_of(event: dict[str, Any], resume: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A poll event as an attacker would write it into an EventBridge target's Input."""
    poll = {k: v for k, v in event.items() if k not in ("ResourceProperties", "OldResourceProperties")}
    rule = "arn:aws:events:us-east-1:123456789012:rule/ecuser-poll-OrdersUser-0123456789abcdef"
    poll.update(CrHelperPoll=True, CrHelperData={}, CrHelperRule=rule, CrHelperPermission=rule.split("/")[-1])
    poll["ElastiCacheUserPoll"] = {"since": 0.0, "timeout": 3600.0, "resume": resume}
    return {**poll, **changes}


@pytest.mark.parametrize(
    ("name", "status", "resume"),
    [
        # The attacker's own Create under way: a poll "removing the half-made user" orders.
        ("create.json", "CREATE_IN_PROGRESS", {"remove": "orders", "reason": "x"}),
        # ... or converging orders onto the attacker's access string.
        ("create.json", "CREATE_IN_PROGRESS", {"modify": {"AccessString": "on ~* +@all"}, "join": ["orders-group"]}),
        # The attacker's own Update under way: a replacement's "failed" user, which is orders.
        ("update.json", "UPDATE_IN_PROGRESS", {"remove": "orders", "reason": "x"}),
        (
            "update.json",
            "UPDATE_IN_PROGRESS",
            {"modify": {"AccessString": "on ~* +@all"}, "on_failure": {"answer": "orders", "remove": True}},
        ),
        # The attacker's own Delete under way, adopting.
        ("delete.json", "DELETE_IN_PROGRESS", {"adopt": True, "groups": ["orders-group"]}),
    ],
)
def test_an_edited_poll_of_ones_own_request_under_way(
    name: str,
    status: str,
    resume: dict[str, Any],
    scene: FakeCloudFormation,
    fake: FakeElastiCache,
    hand_over: FakeHandOver,
    receiver: Receiver,
    invoke: Invoke,
) -> None:
    scene.put(
        STACK_ID, status.replace("CREATE", "UPDATE"), "AppUser", status, "" if "CREATE" in status else "app-user-1"
    )
    before = state(fake)
    event = load_event(name, receiver)
    invoke(poll_of(event, resume, PhysicalResourceId="orders"))
    assert_changed_nothing(fake, before)


def test_an_edited_poll_removes_only_its_own_requests_rule(
    scene: FakeCloudFormation, fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    """The owner's genuine Delete was handed over (its rule exists); the attacker's poll of a
    request CloudFormation does not show, naming the owner's rule, leaves that rule alone."""
    from local.iam_gate import operator_client

    scene.plays_cloudformation = True
    fake.delete_seconds = 4.0
    genuine = as_orders(load_event("delete.json", receiver))
    assert invoke(genuine, timeout=3.0) == []
    rule, text = stored_poll()
    owners_poll = json.loads(text)
    scene.plays_cloudformation = False
    attackers = copy.deepcopy(owners_poll) | {
        "RequestId": "attacker",
        "StackId": STACK_ID,
        "LogicalResourceId": "AppUser",
    }
    assert invoke(attackers) == []
    assert [r["Name"] for r in operator_client("events").list_rules()["Rules"]] == [rule["Name"]]
    assert rule["Name"].startswith("ecuser-poll-OrdersUser-")


# Failure records ---------------------------------------------------------------------------


def failure_record(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestContext": {
            "requestId": "forged",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:elasticache-user-resource:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 1,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Task timed out after 3.00 seconds", "errorType": "Sandbox.Timedout"},
    }


def test_a_forged_failure_record_is_not_answered_and_removes_no_rule(
    scene: FakeCloudFormation, fake: FakeElastiCache, hand_over: FakeHandOver, receiver: Receiver
) -> None:
    from notifier import app as failure

    before = state(fake)
    for payload in (
        as_orders(load_event("update.json", receiver)),
        poll_of(as_orders(load_event("delete.json", receiver)), {}),
    ):
        failure.lambda_handler(failure_record(payload), LambdaContext(30))
    assert receiver.deliveries == [] and hand_over.calls == []
    assert_changed_nothing(fake, before)


# What CloudFormation really sends keeps working ---------------------------------------------


def test_the_owners_genuine_update_still_works_beside_the_forgeries(
    scene: FakeCloudFormation, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    scene.plays_cloudformation = True
    [answer] = invoke(owners_update(receiver))
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.users["orders"].access_string == "on ~app:* +@read"
    assert scene.stacks[ORDERS_STACK].status == "UPDATE_COMPLETE"


def test_a_refusal_is_logged_and_counted(
    scene: FakeCloudFormation,
    fake: FakeElastiCache,
    receiver: Receiver,
    invoke: Invoke,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from provider import app

    counted: list[str] = []
    monkeypatch.setattr(app.metrics, "add_metric", lambda name, **_: counted.append(name))
    invoke(as_orders(forged(receiver, "delete.json")))
    [refusal] = [r for r in caplog.records if r.getMessage().startswith("request refused")]
    assert refusal.levelname == "ERROR" and "is UPDATE_COMPLETE naming 'orders'" in refusal.__dict__["reason"]
    assert counted == ["DeleteRefused", "RequestsRefused"]


def test_a_request_cloudformation_cannot_be_asked_about_is_refused_with_what_to_do(
    fake: FakeElastiCache, cloudformation: FakeCloudFormation, receiver: Receiver, invoke: Invoke
) -> None:
    """A role without the DescribeStackResource grant (the stand-in's `authorize` hook, where an
    IAM evaluator plugs in): nothing is done, and the answer says which permission is missing."""
    from local.http_fake import ServiceError

    def deny(action: str, params: dict[str, str]) -> None:
        raise ServiceError("AccessDenied", f"not authorized to perform: cloudformation:{action}", 403)

    fake.add_user("app-user-1", tags=dict(OWNER))
    cloudformation.authorize = deny
    [answer] = invoke(load_event("delete.json", receiver))
    assert answer.body["Status"] == "FAILED" and "(AccessDenied)" in answer.body["Reason"]
    assert "cloudformation:DescribeStackResource" in answer.body["Reason"]
    assert "DeleteUser" not in fake.actions()


# Edited polls of every kind ----------------------------------------------------------------
#
# Genuine poll states, each taken from a real hand-over of the attacker's own request, are
# edited and sent while that request is still under way (CloudFormation frozen there). The other
# team's `orders` user (UserName `shared`, as the attacker's users are named) is a member of
# `app-orders` (inside the provider's UserGroupIdPrefix `app-`) and of `orders-group` (outside).

OWN = frozenset({"app-user-1", "app-user-2", "app-user-9"})
FOREIGN_GROUPS = frozenset({"orders-group", "app-orders"})
SHARED = "shared"


def others(fake: FakeElastiCache) -> Any:
    """What no poll of the attacker's may change: every other user, and every membership but its
    own users' in its own groups."""
    with fake.lock:
        users = {
            u: (v.status, v.user_name, v.access_string, v.password_count, dict(v.tags), sorted(v.user_group_ids))
            for u, v in fake.users.items()
            if u not in OWN
        }
        groups = {
            g: sorted(m for m in v.user_ids if m not in OWN or g in FOREIGN_GROUPS) for g, v in fake.groups.items()
        }
    return users, groups


def own_update(receiver: Receiver, **properties: Any) -> dict[str, Any]:
    event = with_properties(load_event("update.json", receiver), UserName=SHARED, **properties)
    event["OldResourceProperties"] = {**event["OldResourceProperties"], "UserName": SHARED}
    return event


def converging_in_place(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    """Joined app-readers, ModifyUser accepted, still modifying at the deadline."""
    fake.modify_seconds = 2.0
    assert invoke(own_update(receiver, UserGroupIds=["app-readers"]), timeout=3.0) == []


def converging_replacement(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    """app-user-2 swapped into app-shared in place of app-user-1; the group still modifying."""
    fake.group_modify_seconds = 3.0
    event = own_update(receiver, UserId="app-user-2", UserGroupIds=["app-shared"])
    event["OldResourceProperties"]["UserGroupIds"] = ["app-shared"]
    assert invoke(event, timeout=3.0) == []


def removing(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    """A Create whose join is refused, its user still being deleted at the deadline."""
    fake.faults = [("ModifyUserGroup", "InvalidParameterValue")]
    fake.delete_seconds = 5.0
    event = with_properties(load_event("create.json", receiver), UserId="app-user-9", UserGroupIds=["app-readers"])
    assert invoke(event, timeout=3.5) == []


def deleting(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    fake.delete_seconds = 4.0
    assert invoke(load_event("delete.json", receiver), timeout=3.0) == []


KINDS = {"converging": converging_in_place, "replacement": converging_replacement, "removing": removing}
KINDS["deleting"] = deleting


def edits(resume: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The genuine state, and each edit of it: ids swapped for the other team's user, claims
    added to every object, lists extended, groups swapped."""
    out: list[tuple[str, dict[str, Any]]] = []

    def edited(name: str, change: Any) -> None:
        value = copy.deepcopy(resume)
        change(value)
        out.append((name, value))

    for key in ("remove", "replaces"):
        edited(f"{key}=orders", lambda v, k=key: v.__setitem__(k, "orders"))
    edited("on_failure=orders", lambda v: v.__setitem__("on_failure", {"answer": "orders", "remove": True}))
    edited("replaces=orders, joins app-orders", lambda v: v.update(replaces="orders", join=["app-orders"]))
    edited(
        "swapped back into app-orders",
        lambda v: v.update(replaces="orders", joined=["app-orders"], left=[], swapped=["app-orders"]),
    )
    edited("claims ownership tags", lambda v: v.update(set_tags={"elasticache-user-resource:stack-id": ORDERS_STACK}))
    for claim in ({"adopt": True}, {"remove": "orders"}, {"replaces": "orders"}, {"admin": True}):
        edited(f"claim {claim}", lambda v, c=claim: v.update(c))
    for key, item in resume.items():
        if isinstance(item, dict):
            edited(f"claim in {key}", lambda v, k=key: v[k].update(admin=True, Passwords=["x" * 16]))
        if isinstance(item, list):
            edited(f"{key} extended", lambda v, k=key: v[k].extend(["orders-group", "orders"]))
            edited(f"{key} swapped", lambda v, k=key: v.__setitem__(k, ["orders-group"]))
            edited(f"{key} not a list", lambda v, k=key: v.__setitem__(k, {"orders-group": 1}))
    return out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_edited_polls_of_every_kind_change_no_other_resource(
    kind: str,
    fake: FakeElastiCache,
    cloudformation: FakeCloudFormation,
    poll_function: str,
    ssm: FakeSsm,
    receiver: Receiver,
    invoke: Invoke,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from provider import app
    from provider.cfn_resource import UserResource
    from runtime.config import Settings

    monkeypatch.setenv("USER_GROUP_ID_PREFIX", "app-")
    monkeypatch.setattr(app, "resource", UserResource(Settings.from_environment()))
    fake.add_user("orders", user_name=SHARED, tags=dict(ORDERS_OWNER))
    fake.add_user("app-user-1", user_name=SHARED, tags={**OWNER, "team": "payments"})
    # The other team's groups admit only its own stacks: an edit that joins one meets consent too.
    fake.add_group("orders-group", members=("orders",), tags={CONSENT_TAG: "orders-"})
    fake.add_group("app-orders", members=("orders",), tags={CONSENT_TAG: "orders-"})
    fake.add_group("app-shared", members=("app-user-1",))
    fake.add_group("app-readers")
    KINDS[kind](fake, receiver, invoke)
    _, text = stored_poll()
    genuine = json.loads(text)
    stack = cloudformation.stacks[STACK_ID]
    under_way = (stack.status, stack.resources["AppUser"].status, stack.resources["AppUser"].physical_id)
    resume = genuine["ElastiCacheUserPoll"]["resume"]
    assert ("remove" in resume, "adopt" in resume, "replaces" in resume) == (
        kind == "removing",
        kind == "deleting",
        kind == "replacement",
    ), resume
    before = others(fake)
    [outcome] = [answer.body for answer in invoke(genuine)]  # what the genuine poll answers
    outcome = {k: outcome[k] for k in ("Status", "Reason", "PhysicalResourceId")}
    assert not outcome["Reason"].startswith("Poll refused"), outcome
    for physical_id in (genuine["PhysicalResourceId"], "orders"):
        for name, value in edits(resume):
            receiver.reset()
            cloudformation.put(STACK_ID, under_way[0], "AppUser", *under_way[1:])  # still under way
            state = {**genuine["ElastiCacheUserPoll"], "resume": value}
            answers = invoke({**genuine, "PhysicalResourceId": physical_id, "ElastiCacheUserPoll": state})
            assert others(fake) == before, (physical_id, name)
            for answer in answers:
                body = {k: answer.body[k] for k in outcome}
                refused = body["Status"] == "FAILED" and body["Reason"].startswith("Poll refused: ")
                # The genuine outcome: a Delete's success may carry a note on the groups it waited for.
                same = body == outcome or (
                    body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == outcome["PhysicalResourceId"]
                )
                assert refused or same, (physical_id, name, body)
                assert body["PhysicalResourceId"] != "orders", (physical_id, name)
    assert not [r for r in caplog.records if r.getMessage() == "unexpected error"]
