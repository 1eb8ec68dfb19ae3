"""No password, secret value or ResponseURL signature reaches a log line or an answer, and no
password reaches the state crhelper stores for a hand-over, across request types and faults."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from local.fake_elasticache import FakeElastiCache
from local.iam_gate import operator_client
from local.receiver import Receiver
from runtime.log import SERVICE
from tests.conftest import Invoke, load_event

TEMPLATE_PASSWORD = "Example-Passw0rd-1234567"
NEW_PASSWORDS = ["Rotated-Passw0rd-0000001", "Rotated-Passw0rd-0000002"]
SECRET_VALUE = "Secret-Manager-Value-77"
PARAMETER_VALUE = "Parameter-Store-Value-88"
INVALID_PASSWORD = "tooshort@"
ECHOED_PASSWORD = "Echoed-By-The-Api-000001"
SIGNATURE = "5ec7e75ec7e75ec7e75ec7e75ec7e7"


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every log line, as the function would print it, at DEBUG, from every logger."""
    caplog.set_level(logging.DEBUG)
    sink = io.StringIO()
    service = logging.getLogger(SERVICE)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(service.handlers[0].formatter)
    service.addHandler(handler)
    yield sink
    service.removeHandler(handler)
    sink.write("\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records))


def test_no_secret_reaches_logs_answers_or_poll_state(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke, everything_logged: io.StringIO
) -> None:
    operator_client("secretsmanager").create_secret(Name="elasticache/leak-check", SecretString=SECRET_VALUE)
    operator_client("ssm").put_parameter(Name="/elasticache/leak-check", Value=PARAMETER_VALUE, Type="SecureString")
    create = load_event("create.json", receiver)
    invoke(create)
    invoke(load_event("update.json", receiver))
    rotate = load_event("update.json", receiver)
    rotate["ResourceProperties"]["Passwords"] = NEW_PASSWORDS
    invoke(rotate)
    rotated = list(fake.users["app-user-1"].passwords)
    invoke(load_event("update-replace.json", receiver))
    from_secret = load_event("create-secret.json", receiver)
    from_secret["ResourceProperties"].update(
        UserId="secret-user", UserName="secret-user", PasswordSecretId="elasticache/leak-check"
    )
    invoke(from_secret)
    from_parameter = load_event("create-secret.json", receiver)
    del from_parameter["ResourceProperties"]["PasswordSecretId"]
    from_parameter["ResourceProperties"].update(
        UserId="param-user", UserName="param-user", PasswordParameterName="/elasticache/leak-check"
    )
    invoke(from_parameter)
    invalid = load_event("create.json", receiver)
    invalid["ResourceProperties"]["Passwords"] = [INVALID_PASSWORD]
    invoke(invalid)
    # Faults: ElastiCache errors and a failing ResponseURL.
    fake.faults = [("CreateUser", "500"), ("CreateUser", "InvalidParameterValue")]
    failing = load_event("create.json", receiver)
    failing["ResourceProperties"]["UserId"] = "fault-user"
    invoke(failing)
    fake.faults = [("ModifyUser", "InvalidParameterValue+echo")]
    echoed = load_event("update.json", receiver)
    echoed["ResourceProperties"]["Passwords"] = [ECHOED_PASSWORD]
    [refused] = invoke(echoed)[-1:]
    assert refused.body["Status"] == "FAILED" and "****" in refused.body["Reason"]
    receiver.plan = [500, "reset"]
    invoke(load_event("delete.json", receiver))
    # A Create that outlasts its invocation: crhelper stores the event in an EventBridge rule.
    fake.create_seconds = 5
    slow = load_event("create.json", receiver)
    slow["ResourceProperties"].update(UserId="slow-user", UserName="slow-user")
    invoke(slow, timeout=3.0)
    events = operator_client("events")
    poll_state = [
        target["Input"]
        for rule in events.list_rules()["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    ]
    assert poll_state, "the slow Create should have been handed over"
    malformed = load_event("delete.json", receiver, StackId=None)
    invoke(malformed)

    answers = json.dumps([d.body for d in receiver.deliveries])
    logs = everything_logged.getvalue()
    assert len(receiver.deliveries) >= 10 and "response delivered" in logs
    passwords = (TEMPLATE_PASSWORD, *NEW_PASSWORDS, SECRET_VALUE, PARAMETER_VALUE, INVALID_PASSWORD, ECHOED_PASSWORD)
    for secret in (*passwords, SIGNATURE):
        assert secret not in answers
        assert secret not in logs
    # The poll state must keep the ResponseURL (the poll answers to it), but no password.
    for secret in passwords:
        assert all(secret not in state for state in poll_state)
    assert "X-Amz-Signature" not in logs
    # The passwords did reach ElastiCache: the check above is not vacuous.
    assert fake.engine and fake.engine.authenticates("secret-user", SECRET_VALUE)
    assert rotated == NEW_PASSWORDS
