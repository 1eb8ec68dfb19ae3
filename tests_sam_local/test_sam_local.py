"""`sam local invoke` for real (make test-sam-local): the function in its Lambda container,
built with `sam build`, run by SAM CLI's Runtime Interface Emulator in the locally built
image, against the stateful fake and moto on 127.0.0.1 and an HTTPS receiver. Needs a
Docker daemon (the Makefile starts one)."""

from __future__ import annotations

import py_compile
import statistics
import time
from pathlib import Path

from local.fake_cloudformation import FakeCloudFormation
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from local.sam_invoke import BUILD, container_environment, invoke, trust_receiver
from tests.conftest import OWNER, PROVIDER, load_event

HERE = Path(__file__).resolve().parent
BARE = (
    "import boto3\n\nclient = boto3.client('elasticache')\n\n\ndef lambda_handler(event, context):\n    return None\n"
)


def run(
    event: dict[str, object], fake: FakeElastiCache, moto: str, receiver: Receiver, cloudformation: FakeCloudFormation
) -> dict[str, object]:
    trust_receiver()
    environment = {**container_environment(f"http://127.0.0.1:{fake_port(fake)}", moto), "PROVIDER_ID": PROVIDER}
    before = len(receiver.deliveries)
    invoke(event, environment, cloudformation=cloudformation)
    return receiver.wait_for(before + 1, timeout=10)[-1].body


def fake_port(fake: FakeElastiCache) -> str:
    import os

    return os.environ["AWS_ENDPOINT_URL_ELASTICACHE"].rsplit(":", 1)[1]


def test_create_update_and_delete_in_the_lambda_container(
    fake: FakeElastiCache, moto: str, receiver: Receiver, cloudformation: FakeCloudFormation
) -> None:
    fake.create_seconds = fake.modify_seconds = fake.delete_seconds = 1.0
    created = run(load_event("create.json", receiver), fake, moto, receiver, cloudformation)
    assert created["Status"] == "SUCCESS", created
    assert created["PhysicalResourceId"] == "app-user-1" and created["Data"]["Status"] == "active"  # type: ignore[index]
    assert fake.users["app-user-1"].tags == {**OWNER, "team": "payments"}
    assert fake.users["app-user-1"].passwords == ["Example-Passw0rd-1234567"]

    updated = run(load_event("update.json", receiver), fake, moto, receiver, cloudformation)
    assert updated["Status"] == "SUCCESS", updated
    assert fake.users["app-user-1"].access_string == "on ~app:* +@read"

    deleted = run(load_event("delete.json", receiver), fake, moto, receiver, cloudformation)
    assert deleted["Status"] == "SUCCESS", deleted
    assert "app-user-1" not in fake.users and "app-user-1" in fake.gone_at
    assert [a for a in fake.actions() if a != "DescribeUsers"] == [
        "CreateUser",
        "ListTagsForResource",  # the Update's ownership check
        "ModifyUser",
        "ListTagsForResource",
        "DeleteUser",
    ]


def test_cold_start_in_the_container(fake: FakeElastiCache, moto: str, receiver: Receiver) -> None:
    # Each `sam local invoke` is a fresh container: the first invocation's Duration holds the
    # import and client set-up (RIE initialises lazily: its Init Duration reads 0.03 ms).
    bare_handler = BUILD / "ElastiCacheUserFunction" / "bare_handler.py"
    bare_handler.write_text(BARE)
    # Compiled as the build compiles the function (make test-sam-local: the runtime's Python).
    py_compile.compile(str(bare_handler), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    environment = {**container_environment(f"http://127.0.0.1:{fake_port(fake)}", moto), "PROVIDER_ID": PROVIDER}
    ignored = {**load_event("delete.json", receiver), "ResponseURL": "https://not-aws.invalid/x"}
    ours, bare = [], []
    for _ in range(3):
        ours.append(invoke(ignored, environment).duration_ms)
        bare.append(invoke(ignored, environment, "BareFunction", HERE / "bare-template.yaml").duration_ms)
        time.sleep(0.2)
    handler, baseline = statistics.median(ours), statistics.median(bare)
    print(
        f"\ncold start in the container (median of 3): handler {handler:.0f} ms, import boto3 + one client "
        f"{baseline:.0f} ms, ratio {handler / baseline:.2f}x"
    )
    assert receiver.deliveries == [] and fake.calls == []  # a foreign ResponseURL: nothing done
    assert handler > 0 and baseline > 0


def test_the_build_ships_bytecode_the_runtime_uses() -> None:
    # /var/task is read-only: without it, each cold start compiles boto3 and botocore from source
    # (bench/coldstart.py: 2.4x the time). The runtime's tag, checked by no timestamp (flags 0b01).
    function = BUILD / "ElastiCacheUserFunction"
    sources = [p for p in function.rglob("*.py") if "__pycache__" not in p.parts]
    compiled = {p.parent.parent / (p.name.split(".")[0] + ".py") for p in function.rglob("*.cpython-313.pyc")}
    assert sources and not set(sources) - compiled
    flags = (function / "provider" / "__pycache__" / "app.cpython-313.pyc").read_bytes()[4:8]
    assert int.from_bytes(flags, "little") == 0b01
    assert (function / "runtime" / "models" / "cloudformation" / "2010-05-15" / "service-2.json").is_file()
