"""Fast unit tests of the pure pieces: no server, no sleep."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from cloudformation.outcomes import Done, Failed, answer_fields
from cloudformation.request import CfnRequest, PollState, echoed_physical_id, service_timeout
from cloudformation.response import is_allowed_response_url
from cloudformation.work import (
    Converging,
    Deleting,
    OnFailure,
    PollStateError,
    PollWork,
    Removing,
    Work,
    as_json,
    from_json,
)
from elasticache.user_spec import TagChange, UserSpec, modify_arguments
from local.clock import ManualClock
from rules.engine_split import split_args
from rules.properties import SecretReference
from runtime.deadline import Deadline, PollSchedule, Waiter
from runtime.exceptions import DeadlineReached, UserAlreadyExistsError, api_error, reason_for
from runtime.scope import Scope

SPEC = UserSpec("u1", "u1", "redis", "on ~* +@all", "password", ("Password-Number-0001",))


def test_modify_arguments_send_only_what_differs() -> None:
    assert modify_arguments(SPEC, SPEC, passwords_changed=False) == {}
    assert modify_arguments(SPEC, UserSpec("u1", "u1", "redis", "off", "password"), passwords_changed=False) == {
        "AccessString": "off"
    }
    iam = UserSpec("u1", "u1", "valkey", "on ~* +@all", "iam")
    assert modify_arguments(SPEC, iam, passwords_changed=False) == {
        "AuthenticationMode": {"Type": "iam"},
        "Engine": "valkey",
    }
    assert modify_arguments(SPEC, SPEC, passwords_changed=True) == {
        "AuthenticationMode": {"Type": "password", "Passwords": ["Password-Number-0001"]}
    }


def test_modify_arguments_with_an_unknown_before_set_everything_but_the_engine() -> None:
    assert modify_arguments(None, SPEC, passwords_changed=False) == {
        "AccessString": "on ~* +@all",
        "AuthenticationMode": {"Type": "password", "Passwords": ["Password-Number-0001"]},
    }


def test_tag_change_between_template_tags() -> None:
    change = TagChange.between({"a": "1", "b": "2"}, {"b": "3", "c": "4"})
    assert change.remove == ("a",) and dict(change.set) == {"b": "3", "c": "4"}
    assert not TagChange.between({"a": "1"}, {"a": "1"})


def test_work_keeps_passwords_out_of_the_poll_state() -> None:
    work = Work.of(modify_arguments(None, SPEC, passwords_changed=True), TagChange(), None)
    state = json.loads(json.dumps(as_json(Converging(work))))
    assert "Password-Number-0001" not in str(state) and work.needs_passwords
    read = from_json(state)
    assert isinstance(read, Converging)
    assert read.work.arguments(("Other-Password-00001",))["AuthenticationMode"] == {
        "Type": "password",
        "Passwords": ["Other-Password-00001"],
    }


@pytest.mark.parametrize(
    "state",
    [
        Converging(
            Work(
                {"AccessString": "on ~a +get"}, TagChange(("old",), {"new": "1"}), SecretReference("ssm", "/p"), ("g1",)
            ),
            OnFailure("not-created_User_r1", remove=True),
        ),
        Converging(Work(leave=("g2",))),
        Removing("app-user-2", "The replacement failed."),
        Deleting(adopt=True, groups=("g1", "g2")),
        Deleting(),
    ],
    ids=lambda state: type(state).__name__,
)
def test_every_kind_of_poll_state_survives_its_json_form(state: PollWork) -> None:
    back = from_json(json.loads(json.dumps(as_json(state))))
    # NamedTuples of equal values are equal whatever their type: the type is checked too.
    assert back == state and type(back) is type(state)
    if isinstance(back, Converging) and isinstance(state, Converging):
        assert type(back.work) is Work and type(back.work.tags) is TagChange
        assert back.on_failure is None or type(back.on_failure) is OnFailure
        assert back.work.secret is None or type(back.work.secret) is SecretReference
    assert from_json({}) is None
    with pytest.raises(PollStateError, match="not an object"):
        from_json("garbage")


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateUser")


def test_catalogue_reasons_name_the_user_and_redact_passwords() -> None:
    error = api_error(
        "CreateUser", "u1", client_error("InvalidParameterValue", "bad: Password-Number-0001"), SPEC.passwords
    )
    assert (
        str(error)
        == "CreateUser for user 'u1' was refused by ElastiCache as invalid (InvalidParameterValue): bad: ****"
    )
    assert isinstance(api_error("CreateUser", "u1", client_error("UserAlreadyExists", "")), UserAlreadyExistsError)
    assert (
        reason_for("DeleteUser", "Brand-New", user="u1", message="huh")
        == "DeleteUser for user 'u1' failed: Brand-New: huh"
    )
    assert "default user of user group(s) g1" in reason_for(
        "DeleteUser", "DefaultUserAssociatedToUserGroup", user="u1", groups="g1"
    )


EVENT = {
    "RequestType": "Update",
    "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1",
    "RequestId": "r1",
    "LogicalResourceId": "User",
    "PhysicalResourceId": "u1",
    "ResourceProperties": {"ServiceTimeout": "600"},
    "OldResourceProperties": {"UserId": "u1"},
}


def test_cfn_request_reads_the_event_once() -> None:
    request = CfnRequest.from_event(EVENT, now=100.0, is_poll=False, scope=Scope(provider_id="p1"))
    assert (request.request_type, request.physical_id, request.state) == ("Update", "u1", PollState(100.0, 600.0))
    assert type(request.state) is PollState and type(request.scope) is Scope
    properties = {"Passwords": ["Hidden-Passw0rd-1"]}
    secret = CfnRequest.from_event({**EVENT, "ResourceProperties": properties}, now=0, is_poll=False)
    assert repr(secret) == f"CfnRequest(Update User 'u1' of {EVENT['StackId']})" and "Passw0rd" not in str(secret)
    assert request.owner.tags == {
        "elasticache-user-resource:provider": "p1",
        "elasticache-user-resource:stack-id": EVENT["StackId"],
        "elasticache-user-resource:logical-id": "User",
    }
    assert request.not_created_id == "not-created_User_r1"
    polled = CfnRequest.from_event(
        {**EVENT, "ElastiCacheUserPoll": {"since": 5, "timeout": 60, "resume": {"adopt": True, "groups": ["g"]}}},
        now=100.0,
        is_poll=True,
    )
    assert polled.state == PollState(5.0, 60.0, Deleting(True, ("g",))) and polled.is_poll
    assert type(polled.state.resume) is Deleting
    assert (
        len(CfnRequest.from_event({**EVENT, "LogicalResourceId": "L" * 255}, now=0, is_poll=False).poll_rule_name) <= 64
    )


def test_only_a_poll_carries_a_poll_state_and_no_state_gains_time() -> None:
    """Anyone who may invoke the provider writes the event: a first invocation carrying a poll's
    state keeps its own clock, and a poll's figures are bounded (never after now, never more
    than CloudFormation's longest ServiceTimeout)."""
    forged = {**EVENT, "ElastiCacheUserPoll": {"since": 1e12, "timeout": 1e12}}
    assert CfnRequest.from_event(forged, now=100.0, is_poll=False).state == PollState(100.0, 600.0)
    assert CfnRequest.from_event(forged, now=100.0, is_poll=True).state[:2] == (100.0, 3600.0)
    for since, timeout in ((10**400, -5), (float("nan"), float("inf")), (True, "60")):
        read = PollState.read({"since": since, "timeout": timeout}, 100.0, 600.0)
        assert read[:2] == (100.0, 1.0 if timeout == -5 else 600.0)


@pytest.mark.parametrize(
    "resume",
    [{"modify": {"AuthenticationMode": {"Type": []}}}, {"secret": {"kind": [], "name": "x"}}],
)
def test_an_unhashable_value_in_a_poll_state_is_refused_not_raised(resume: dict[str, object]) -> None:
    state = PollState.read({"since": 5, "timeout": 60, "resume": resume}, 100.0, 600.0)
    assert state.resume is None and state.problem


@pytest.mark.parametrize(("value", "seconds"), [("600", 600.0), (None, 3600.0), ("0", 3600.0), ("x", 3600.0)])
def test_service_timeout(value: object, seconds: float) -> None:
    assert service_timeout({"ServiceTimeout": value}) == seconds


def test_echoed_physical_id() -> None:
    assert echoed_physical_id(EVENT) == "u1"
    assert echoed_physical_id({**EVENT, "PhysicalResourceId": ""}) == "not-created_User_r1"


def test_outcomes_map_to_answer_fields() -> None:
    assert answer_fields(Done("u1", {"Arn": "a"})) == ("SUCCESS", "", {"Arn": "a"}, "u1")
    assert answer_fields(Failed("why", "u1")) == ("FAILED", "why", {}, "u1")


def _one_region_per_partition() -> list[tuple[str, str]]:
    from botocore.loaders import create_loader

    partitions = create_loader().load_data("partitions")["partitions"]
    return [(next(r for r in p["regions"] if not r.endswith("-global")), p["outputs"]["dnsSuffix"]) for p in partitions]


@pytest.mark.parametrize(("region", "suffix"), _one_region_per_partition())
def test_answers_go_to_cloudformations_response_bucket_in_every_partition(region: str, suffix: str) -> None:
    bucket = "cloudformation-custom-resource-response-" + region.replace("-", "")
    for url in (
        f"https://{bucket}.s3.{region}.{suffix}/key?X-Amz-Signature=1",  # virtual-hosted
        f"https://{bucket}.s3-{region}.{suffix}/key",  # the Lambda guide's example form
        f"https://s3.{region}.{suffix}/{bucket}/key",  # path style
        f"https://{bucket}.s3.{suffix}/key",  # without the region (us-east-1's usual form)
    ):
        assert is_allowed_response_url(url, (), region), url
    for url in (
        f"https://someone-elses-bucket.s3.{region}.{suffix}/key",  # any bucket could be anyone's
        f"https://s3.{region}.{suffix}/someone-elses-bucket/{bucket}/key",
        f"https://s3.{region}.{suffix}/{bucket}/../someone-elses-bucket/key",
        f"https://{bucket}x.s3.{region}.{suffix}/key",
        f"https://{bucket}.s3.{region}.{suffix}.evil.example/key",
        f"https://{bucket}.cloudformation.{region}.{suffix}/key",  # an AWS host, but not S3
        f"http://{bucket}.s3.{region}.{suffix}/key",
    ):
        assert not is_allowed_response_url(url, (), region), url
    # Another region's bucket: the provider answers for the stacks of its own region only.
    assert not is_allowed_response_url(f"https://{bucket}.s3.{suffix}/key", (), "ap-south-2")


def test_scope_confines_user_ids_to_the_prefix() -> None:
    scope = Scope(user_id_prefix="app-")
    assert scope.outside("app-user") is None and scope.outside("APP-user") is None
    assert "UserIdPrefix" in str(scope.outside("other-user"))
    assert Scope().outside("anything") is None


def test_the_waiter_paces_checks_on_the_schedule_and_stops_short_of_the_deadline() -> None:
    clock = ManualClock()
    waiter = Waiter(PollSchedule(initial=0.5, growth=2.0, maximum=2.0), Deadline(5.0, clock=clock, sleep=clock.advance))
    statuses = iter(["modifying", "modifying", "active"])
    assert waiter.settled(lambda: {"Status": next(statuses)}, "user", {}) == {"Status": "active"}
    assert clock.slept == [0.5, 1.0]
    with pytest.raises(DeadlineReached):
        while True:
            waiter.pause()
    # 3.5 s slept of 5: the next 2 s wait would end past the deadline, so it is never started.
    assert clock.slept == [0.5, 1.0, 2.0] and waiter.deadline.remaining() == 1.5


@pytest.mark.parametrize(
    ("inside", "rules"),
    [
        ("~a\t+get", ["~a", "+get"]),  # a tab ends a rule inside a selector
        ("\v~a", ["~a"]),  # leading blanks are skipped, a vertical tab too ...
        ("~a\v~b", ["~a\v~b"]),  # ... but it does not end a rule
        ('"~a"', ["~a"]),
        ("'a\\'b'", ["a'b"]),
        ('"\\x41\\t"', ["A\t"]),
        ('~a ""', ["~a", ""]),
        ('~a" ', None),  # unterminated: the engine keeps the selector empty
        ('"+get"x', None),  # a closing quote must be followed by a blank
    ],
)
def test_a_selector_is_split_as_the_engines_argument_splitter_does(inside: str, rules: list[str] | None) -> None:
    assert split_args(inside) == rules


def test_a_stack_id_that_is_not_the_one_cloudformation_gives_is_refused() -> None:
    """Consent admits the stack's name in the StackId: an id naming another stack on the same
    unique id must not be believed, whatever CloudFormation resolves it to."""
    from cloudformation.provenance import judge

    request = CfnRequest.from_event({**EVENT, "ResourceType": "Custom::ElastiCacheUser"}, now=0, is_poll=False)
    detail = {
        "ResourceType": "Custom::ElastiCacheUser",
        "ResourceStatus": "UPDATE_IN_PROGRESS",
        "PhysicalResourceId": "u1",
    }
    assert judge(request, {**detail, "StackId": EVENT["StackId"]}, None).confirmed
    other = str(EVENT["StackId"]).replace("stack/", "stack/orders-")
    refused = judge(request, {**detail, "StackId": other}, None)
    assert not refused.confirmed and "not the id CloudFormation gives" in refused.reason
