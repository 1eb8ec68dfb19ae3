"""Fixtures: real protocol peers on 127.0.0.1 (moto server, the stateful fake, an HTTPS
response receiver) and an `invoke` that runs the Lambda handler as the runtime would."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The handler reads its settings at import: set them before anything imports it.
os.environ.update(
    {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "RESPONSE_URL_ALLOWED_HOSTS": "127.0.0.1",
        "DEADLINE_MARGIN_SECONDS": "2",
        "POLL_INITIAL_SECONDS": "0.05",
        "POLL_GROWTH": "1.5",
        "POLL_MAX_SECONDS": "0.2",
        # A throttled ElastiCache call pauses its client (runtime/pacing.py): 30 s in production.
        "THROTTLE_PAUSE_SECONDS": "0.1",
        "RESPONSE_TIMEOUT_SECONDS": "1",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "POWERTOOLS_METRICS_NAMESPACE": "Tests",
        "PROVIDER_ID": "arn:aws:cloudformation:us-east-1:123456789012:stack/user-provider/9e8d7c6b",
        "ALLOW_ADOPTION": "true",
        "USER_ID_PREFIX": "",
        # The CloudFormation stand-in answers at once: a status it does not show is final.
        "CONFIRM_LAG_SECONDS": "0",
    }
)
os.environ.pop("AWS_SAM_LOCAL", None)
os.environ.pop("AWS_PROFILE", None)

import local  # noqa: E402, F401 - puts the function's modules on the import path
from local import iam_gate  # noqa: E402
from local.context import LambdaContext  # noqa: E402
from local.engine import Engine  # noqa: E402
from local.fake_cloudformation import FakeCloudFormation, playing_cloudformation, serve_cloudformation  # noqa: E402
from local.fake_elasticache import FakeElastiCache  # noqa: E402
from local.fake_handover import FakeHandOver, serve_hand_over  # noqa: E402
from local.fake_secrets import FakeSecrets, serve_secrets  # noqa: E402
from local.fake_ssm import FakeSsm, serve_ssm  # noqa: E402
from local.fake_wire import serve  # noqa: E402
from local.iam_proxy import authorizing_proxy  # noqa: E402
from local.receiver import Delivery, Receiver, https_receiver  # noqa: E402

# Every request a stand-in (or moto, through the authorizing proxy) receives from a function
# is judged by that function's role policy from template.yaml (local/iam_gate.py).
iam_gate.enforce()

EVENTS = ROOT / "events"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/app-stack/0f0e0d0c-1111-2222-3333-444455556666"
# The ownership tags of the sample stack's AppUser, as the resource writes them.
PROVIDER = os.environ["PROVIDER_ID"]
OWNER = {
    "elasticache-user-resource:provider": PROVIDER,
    "elasticache-user-resource:stack-id": STACK_ID,
    "elasticache-user-resource:logical-id": "AppUser",
}
# The consent its groups' owners gave (src/handler/elasticache/consent.py): every group the
# fake's scene sets up admits the stacks named app-* (app-stack), unless a test says otherwise.
CONSENT_TAG = "elasticache-user-resource:members-from"
CONSENT = {CONSENT_TAG: "app-"}


@pytest.fixture(scope="session")
def receiver_session() -> Iterator[Receiver]:
    with https_receiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(receiver_session: Receiver) -> Receiver:
    receiver_session.reset()
    return receiver_session


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """A real redis-server on 127.0.0.1 (installed with apt when missing: never skipped)."""
    with Engine() as running:
        yield running


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto judges no policy: the functions reach it through the authorizing proxy.
    with authorizing_proxy(f"http://{host}:{port}") as endpoint:
        # Every other AWS service the handler may reach (events, lambda, secrets, ssm) goes to moto.
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        yield endpoint
    server.stop()


@pytest.fixture
def moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto server as ElastiCache (and every other service), freshly reset."""
    urllib.request.urlopen(urllib.request.Request(moto_endpoint + "/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL_ELASTICACHE", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def fake(moto: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeElastiCache]:
    """The stateful fake as ElastiCache, its users mirrored onto the real engine; moto still
    serves the other services. Its groups consent to app-stack (CONSENT)."""
    engine.reset_users()
    api = FakeElastiCache(engine=engine, group_tags=dict(CONSENT))
    with serve(api) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ELASTICACHE", endpoint)
        yield api


# Where each pytest process appends the gate's decisions after a run of the whole suite
# (gitignored; `python -m lint.permissions` turns it into docs/permissions.md).
IAM_RECORD = ROOT / ".iam-record"


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    whole = config.args_source == pytest.Config.ArgsSource.TESTPATHS and not (
        config.option.keyword or config.option.markexpr or getattr(config.option, "lf", False)
    )
    # pytest-xdist's workers share the run's id; a run without workers is one process.
    run = getattr(config, "workerinput", {}).get("testrunuid") or os.getpid()
    if whole and iam_gate.decisions:
        iam_gate.write_record(IAM_RECORD / f"{run}-{os.getpid()}.jsonl")


def load_event(name: str, receiver: Receiver, **changes: Any) -> dict[str, Any]:
    """An event from events/, answering to the receiver, with top-level fields changed."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    event["ResponseURL"] = receiver.url(event["RequestId"])
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def with_properties(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The event with ResourceProperties changed: a value of None removes the property."""
    properties = dict(event["ResourceProperties"])
    for key, value in changes.items():
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value
    return {**event, "ResourceProperties": properties}


@pytest.fixture(scope="session")
def hand_over_session() -> Iterator[tuple[FakeHandOver, str]]:
    api = FakeHandOver()
    with serve_hand_over(api) as endpoint:
        yield api, endpoint


@pytest.fixture
def hand_over(hand_over_session: tuple[FakeHandOver, str], monkeypatch: pytest.MonkeyPatch) -> FakeHandOver:
    """EventBridge and Lambda as strict as AWS (local/fake_handover.py), freshly reset."""
    api, endpoint = hand_over_session
    api.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", endpoint)
    return api


@pytest.fixture(scope="session")
def secrets_session() -> Iterator[tuple[FakeSecrets, str]]:
    api = FakeSecrets()
    with serve_secrets(api) as endpoint:
        yield api, endpoint


@pytest.fixture
def secrets(secrets_session: tuple[FakeSecrets, str], monkeypatch: pytest.MonkeyPatch) -> FakeSecrets:
    """Secrets Manager's version stages as the API reference says (local/fake_secrets.py), emptied."""
    api, endpoint = secrets_session
    api.secrets.clear()
    api.calls.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
    return api


@pytest.fixture(scope="session")
def ssm_session() -> Iterator[tuple[FakeSsm, str]]:
    api = FakeSsm()
    with serve_ssm(api) as endpoint:
        yield api, endpoint


@pytest.fixture
def ssm(ssm_session: tuple[FakeSsm, str], monkeypatch: pytest.MonkeyPatch) -> FakeSsm:
    """Parameter Store as strict as AWS (local/fake_ssm.py), emptied: the applied-state records.
    Without it, the provider records to moto (AWS_ENDPOINT_URL)."""
    api, endpoint = ssm_session
    api.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", endpoint)
    return api


@pytest.fixture
def poll_function(moto: str, hand_over: FakeHandOver) -> str:
    """The provider function, which the hand-over grants EventBridge permission to invoke."""
    return iam_gate.FUNCTION_NAMES["provider"]


def stored_poll() -> tuple[dict[str, Any], str]:
    """crhelper's one EventBridge rule after a hand-over, and the event text its target holds."""
    events = iam_gate.operator_client("events")
    [rule] = events.list_rules()["Rules"]
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    return dict(rule), target["Input"]


def aged(poll: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The poll event as EventBridge would deliver it `seconds` after the request was first
    seen: the handler measures ServiceTimeout from the state's `since`, so no test sleeps."""
    import time

    state = poll["ElastiCacheUserPoll"]
    return {**poll, "ElastiCacheUserPoll": {**state, "since": time.time() - seconds}}


@pytest.fixture(scope="session")
def cloudformation_session(receiver_session: Receiver) -> Iterator[tuple[FakeCloudFormation, str]]:
    api = FakeCloudFormation()
    receiver_session.listeners.append(api.answered)
    with serve_cloudformation(api) as endpoint:
        yield api, endpoint


@pytest.fixture(autouse=True)
def cloudformation(
    cloudformation_session: tuple[FakeCloudFormation, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeCloudFormation]:
    """CloudFormation (local/fake_cloudformation.py), for every test: whatever event a test sends
    the provider (or the notifier, inside a failure record) is first shown under way, as in its
    genuine sequence (`begin`), and every answer the receiver accepts moves the stack on
    (`answered`). A test that forges its events sets `plays_cloudformation = False` (and may
    `put` the scene it needs)."""
    api, endpoint = cloudformation_session
    api.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", endpoint)
    with playing_cloudformation(api):
        yield api


Invoke = Callable[..., list[Delivery]]


@pytest.fixture
def invoke(receiver: Receiver) -> Invoke:
    """Run the handler on an event with a Lambda deadline; return every answer received."""
    from provider import app

    def run(event: Any, timeout: float = 30.0, settle: float = 0.0) -> list[Delivery]:
        app.lambda_handler(event, LambdaContext(timeout_seconds=timeout))
        if settle:
            receiver.wait_for(len(receiver.deliveries) + 1, timeout=settle)
        return list(receiver.deliveries)

    return run


def in_parallel(*events: dict[str, Any]) -> None:
    """Run each event in its own Lambda container (resource and client), at the same time:
    duplicate deliveries, or concurrent requests of one stack."""
    import threading

    from provider.cfn_resource import UserResource
    from runtime.config import Settings

    threads = [
        threading.Thread(target=UserResource(Settings.from_environment()).handle, args=(event, LambdaContext(30)))
        for event in events
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
