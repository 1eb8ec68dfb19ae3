"""The answer's body and destination, as CloudFormation's store would receive them."""

from __future__ import annotations

import json

import pytest

from cloudformation.response import MAX_BODY_BYTES, encode_body, is_allowed_response_url, put_response
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from tests.conftest import Invoke, load_event

BODY = {
    "Status": "SUCCESS",
    "PhysicalResourceId": "app-user-1",
    "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
    "RequestId": "r-1",
    "LogicalResourceId": "AppUser",
    "Reason": "",
    "Data": {},
    "NoEcho": False,
}


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig=1", True),
        ("https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x", False),
        ("https://S3.AMAZONAWS.COM/cloudformation-custom-resource-response-useast1/x", True),
        ("https://S3.AMAZONAWS.COM/x", False),  # not CloudFormation's bucket: anyone's
        ("https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x", False),  # another region's
        ("http://s3.amazonaws.com/x", False),
        ("https://amazonaws.com.evil.example/x", False),
        ("https://evilamazonaws.com/x", False),
        ("https://s3.amazonaws.com@evil.example/x", False),
        ("https://127.0.0.1:8443/x", True),  # allowed through RESPONSE_URL_ALLOWED_HOSTS in the tests
        ("https://localhost/x", False),
        ("https://[::1/x", False),
        (None, False),
    ],
)
def test_only_https_urls_on_aws_or_allowed_hosts(url: object, allowed: bool) -> None:
    assert is_allowed_response_url(url, {"127.0.0.1"}) is allowed


@pytest.mark.parametrize(
    "value", ["x" * 5000, '"\\' * 2500, ",".join(["g" * 40] * 120)], ids=["plain", "escaped", "list"]
)
def test_oversized_data_is_trimmed_and_the_status_kept(value: str) -> None:
    body = {**BODY, "Data": {"Big": value, "Small": "kept"}}
    encoded = encode_body(body)
    sent = json.loads(encoded)
    assert len(encoded) <= MAX_BODY_BYTES and len(encoded) > MAX_BODY_BYTES - 200  # trimmed, not emptied
    assert sent["Status"] == BODY["Status"] and sent["Data"]["Small"] == "kept"
    assert sent["Data"]["Big"].endswith("...") and value.startswith(sent["Data"]["Big"][:-3])
    if "," in value:
        assert all(item == "g" * 40 for item in sent["Data"]["Big"][:-3].rstrip(",").split(","))


@pytest.mark.parametrize("char", ["s", '"', "\\", "\u00e9"], ids=["plain", "quote", "backslash", "non-ascii"])
def test_oversized_echoed_fields_are_clipped_to_fit(char: str) -> None:
    # Escaped in JSON, a character takes 2 to 6 bytes: clipping by characters overflowed.
    echoed = {"StackId": char * 3000, "LogicalResourceId": char * 3000, "Reason": char * 3000}
    encoded = encode_body({**BODY, "Status": "FAILED", **echoed})
    sent = json.loads(encoded)
    assert len(encoded) <= MAX_BODY_BYTES and sent["Status"] == "FAILED"
    for key, value in echoed.items():
        assert sent[key] and value.startswith(sent[key])  # clipped, keeping its beginning


def test_a_disallowed_url_is_never_contacted(receiver: Receiver) -> None:
    url = receiver.url().replace("https://", "http://")
    assert not put_response(url, BODY, allowed_hosts={"127.0.0.1"}, attempts=3, timeout=1, time_left=lambda: 10)
    assert receiver.attempts == 0


def test_long_reasons_keep_their_beginning(fake: FakeElastiCache, receiver: Receiver, invoke: Invoke) -> None:
    # crhelper would keep the last 240 characters; the beginning says what is wrong.
    event = load_event("create.json", receiver)
    event["ResourceProperties"].update({f"Unknown{i}" + "x" * 60: "1" for i in range(5)})
    [answer] = invoke(event)
    reason = answer.body["Reason"]
    assert reason.startswith("Unknown property(ies): Unknown0") and reason.endswith("...")
    assert len(reason) == 256
