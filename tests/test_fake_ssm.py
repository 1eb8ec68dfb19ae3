"""The Parameter Store stand-in (local/fake_ssm.py) refuses what Parameter Store refuses, over
boto3's own protocol; and the drift function's pacing and IAM role."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from drift.app import TokenBucket
from local import iam_gate
from local.clock import ManualClock
from local.fake_ssm import FakeSsm
from rules.property_table import PROVIDER_TAG
from runtime.deadline import Deadline
from tests.test_template import statements


@pytest.fixture
def client(ssm: FakeSsm) -> Any:
    return iam_gate.operator_client("ssm", config=Config(retries={"total_max_attempts": 1}))


def code(call: Any, **arguments: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return str(raised.value.response["Error"]["Code"])


def test_standard_values_stop_at_4096_characters_and_names_need_overwrite(ssm: FakeSsm, client: Any) -> None:
    client.put_parameter(Name="/p/a", Value="x" * 4096, Type="String")
    assert code(client.put_parameter, Name="/p/b", Value="x" * 4097, Type="String") == "ValidationException"
    assert code(client.put_parameter, Name="/p/a", Value="y", Type="String") == "ParameterAlreadyExists"
    assert client.put_parameter(Name="/p/a", Value="y", Type="String", Overwrite=True)["Version"] == 2
    assert code(client.put_parameter, Name="/aws/x", Value="y", Type="String") == "ValidationException"
    assert code(client.get_parameter, Name="/p/missing") == "ParameterNotFound"
    assert code(client.delete_parameter, Name="/p/missing") == "ParameterNotFound"


def test_parameters_by_path_come_ten_a_page_direct_children_only(ssm: FakeSsm, client: Any) -> None:
    for index in range(23):
        client.put_parameter(Name=f"/path/u{index:02d}", Value=str(index), Type="String")
    client.put_parameter(Name="/path/deeper/x", Value="no", Type="String")
    assert code(client.get_parameters_by_path, Path="/path", MaxResults=11) == "ValidationException"
    pages = list(client.get_paginator("get_parameters_by_path").paginate(Path="/path"))
    assert [len(p["Parameters"]) for p in pages] == [10, 10, 3]
    assert "/path/deeper/x" not in {p["Name"] for page in pages for p in page["Parameters"]}


def test_secure_strings_are_decrypted_only_when_asked_and_throttling_answers_rate_exceeded(
    ssm: FakeSsm, client: Any
) -> None:
    client.put_parameter(Name="/s", Value="secret-value", Type="SecureString")
    assert client.get_parameter(Name="/s", WithDecryption=True)["Parameter"]["Value"] == "secret-value"
    assert client.get_parameter(Name="/s")["Parameter"]["Value"] != "secret-value"
    clock = ManualClock()
    ssm.clock, ssm.rate_limit = clock, 2.0
    client.get_parameter(Name="/s")
    client.get_parameter(Name="/s")
    assert code(client.get_parameter, Name="/s") == "ThrottlingException"
    clock.advance(0.5)
    client.get_parameter(Name="/s")


def test_the_drift_token_bucket_spaces_calls_at_its_rate() -> None:
    clock = ManualClock()
    deadline = Deadline(10.0, clock=clock, sleep=clock.advance)
    bucket = TokenBucket(4.0, clock=clock)
    for _ in range(9):
        bucket.wait(deadline)
    assert clock.now - 1000.0 == pytest.approx(2.0)  # 9 calls at 4 a second: 8 gaps of 0.25 s


def test_the_drift_role_changes_only_owned_users_and_reads_only_its_own_records() -> None:
    drift = [s for s in statements("DriftRole") if s["Effect"] == "Allow"]  # NeverTouchHolds only denies
    changing = {"ModifyUser", "AddTagsToResource", "RemoveTagsFromResource"}
    for statement in drift:
        actions = {a.split(":")[1] for a in statement["Action"]}
        assert not actions & {"CreateUser", "DeleteUser", "PutParameter", "DeleteParameter"}, statement
        if actions & changing:
            assert statement["Condition"]["StringEquals"] == {
                f"aws:ResourceTag/{PROVIDER_TAG}": {"Ref": "AWS::StackId"}
            }
        if any(a.startswith("ssm:") for a in statement["Action"]):
            assert statement["Resource"]["Fn::Sub"].endswith(":parameter${DriftRecordPath}/${AWS::StackName}")
        if "PutEvents" in actions:
            assert statement["Resource"]["Fn::Sub"].endswith(":event-bus/default")
            assert statement["Condition"] == {
                "ForAllValues:StringEquals": {"events:source": "elasticache-user-resource"},
                "Null": {"events:source": "false"},
            }
    tags = [s for s in drift if "elasticache:AddTagsToResource" in s["Action"]]
    assert all("aws:TagKeys" in str(s["Condition"]) for s in tags)
