"""Property-based: generated CloudFormation requests, valid and broken. Every request with
a ResponseURL gets exactly one answer with the fields CloudFormation requires, within 4096
bytes; FAILED always has a reason; the handler never raises; a request with a foreign
ResponseURL gets no answer and causes no API call."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from tests.conftest import STACK_ID, Invoke

REQUIRED = ("Status", "PhysicalResourceId", "StackId", "RequestId", "LogicalResourceId")

scalars = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["true", "false", "TRUE", "1", "0", "", " ", "redis", "valkey", "app-user-1"]),
    st.integers(),
    st.booleans(),
    st.none(),
    st.just("x" * 5000),
    st.text(alphabet="🚀ü\u0000\u202e漢", min_size=1, max_size=10),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3))
good_passwords = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_!#$%", min_size=16, max_size=40),
    min_size=1,
    max_size=2,
)
properties = st.fixed_dictionaries(
    {},
    optional={
        "ServiceToken": st.just("arn:aws:lambda:us-east-1:123456789012:function:f"),
        "UserId": st.one_of(st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,45}", fullmatch=True), values),
        "UserName": st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), values),
        "Engine": st.one_of(st.sampled_from(["redis", "valkey", "Redis", "VALKEY", "memcached"]), values),
        "AccessString": st.one_of(st.just("on ~* +@all"), values),
        "Passwords": st.one_of(good_passwords, values),
        "NoPasswordRequired": st.one_of(st.sampled_from(["true", "false", True, False]), values),
        "AuthenticationMode": st.one_of(
            st.fixed_dictionaries({"Type": st.sampled_from(["iam", "password", "no-password-required", "x"])}), values
        ),
        "Tags": st.one_of(
            st.lists(st.fixed_dictionaries({"Key": st.text(max_size=140), "Value": st.text(max_size=300)}), max_size=3),
            values,
        ),
        "AdoptExistingUser": st.one_of(st.sampled_from(["true", "false"]), values),
        "Surprise": values,
    },
)
envelope_value = st.one_of(st.none(), st.text(max_size=2000), st.integers(), st.just(""))


@st.composite
def requests(draw: st.DrawFn, url: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": draw(st.one_of(st.sampled_from(["Create", "Update", "Delete"]), envelope_value)),
        "ResponseURL": url,
        "StackId": STACK_ID,
        "RequestId": draw(st.uuids()).hex,
        "LogicalResourceId": "AppUser",
        "ResourceType": "Custom::ElastiCacheUser",
        "PhysicalResourceId": draw(
            st.one_of(st.sampled_from(["app-user-1", "stack_AppUser_ABCDEFGH"]), envelope_value)
        ),
        "ResourceProperties": draw(st.one_of(properties, values)),
        "OldResourceProperties": draw(st.one_of(properties, values)),
    }
    for field in ("StackId", "LogicalResourceId", "PhysicalResourceId", "ResourceProperties", "OldResourceProperties"):
        change = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace"]))
        if change == "drop":
            event.pop(field)
        elif change == "replace":
            event[field] = draw(envelope_value)
    return event


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_request_gets_exactly_one_well_formed_answer(
    data: st.DataObject, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    receiver.reset()
    fake.users.clear()
    fake.add_user("app-user-1", tags={"elasticache-user-resource:stack-id": STACK_ID})
    event = data.draw(requests(receiver.url("generated")))
    answers = invoke(event)
    assert len(answers) == 1, event
    body = answers[0].body
    assert all(isinstance(body.get(name), str) for name in REQUIRED), body
    assert body["Status"] in ("SUCCESS", "FAILED") and body["PhysicalResourceId"]
    assert len(json.dumps(body).encode()) <= 4096
    if body["Status"] == "FAILED":
        assert body["Reason"].strip()
    else:
        assert event["RequestType"] in ("Create", "Update", "Delete")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    url=st.one_of(
        st.sampled_from(
            [
                "http://127.0.0.1/insecure",
                "https://evil.example.com/x",
                "https://amazonaws.com.evil.example/x",
                "https://s3.amazonaws.com@evil.example/x",
                "ftp://s3.amazonaws.com/x",
                "",
            ]
        ),
        st.text(max_size=50),
        st.integers(),
        st.none(),
    ),
    event_type=st.sampled_from(["Create", "Update", "Delete"]),
)
def test_foreign_response_url_gets_no_answer_and_no_api_call(
    url: Any, event_type: str, fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    receiver.reset()
    fake.calls.clear()
    event = {
        "RequestType": event_type,
        "ResponseURL": url,
        "StackId": STACK_ID,
        "RequestId": "r",
        "LogicalResourceId": "AppUser",
        "PhysicalResourceId": "app-user-1",
        "ResourceProperties": {"UserId": "app-user-1"},
    }
    assert invoke(event) == []
    assert fake.calls == []


def test_non_object_events_do_not_crash(fake: FakeElastiCache, invoke: Invoke) -> None:
    events: list[Any] = [None, [], "Delete", 42, {"RequestType": "Delete"}]
    for event in events:
        assert invoke(event) == []
