"""Zero-downtime rotation: the four steps as Secrets Manager runs them (repeated, interrupted,
three rotations in a row) while a client keeps connecting to the real engine with the
password it read from the secret, cached for a while and re-read on WRONGPASS. No connection
is refused; the same harness with a single-password rotation is refused, so the test can fail."""

from __future__ import annotations

import json

import pytest

from local import rotation_driver as driver
from local.engine import Engine
from local.fake_elasticache import FakeElastiCache
from local.fake_secrets import FakeSecrets
from local.iam_gate import operator_client
from local.receiver import Receiver
from rotation.app import SET_LABEL
from tests.conftest import Invoke, load_event, with_properties

SECRET = "elasticache/app-user-1"
FIRST = "First-Passw0rd-000000001"


@pytest.fixture
def declared(fake: FakeElastiCache, secrets: FakeSecrets, receiver: Receiver, invoke: Invoke) -> str:
    """A user declared with PasswordSecretId, through the custom resource (which binds it)."""
    fake.modify_seconds = 0.3
    user_arn = "arn:aws:elasticache:us-east-1:123456789012:user:app-user-1"
    secrets.add(SECRET, json.dumps({"username": "app-user-1", "password": FIRST, "user_arn": user_arn}))
    event = with_properties(load_event("create.json", receiver), Passwords=None, PasswordSecretId=SECRET)
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    receiver.reset()
    return SECRET


def step(name: str, token: str, secret: str = SECRET, seconds: float = 30) -> None:
    driver.step(secret, token, name, seconds)


def start() -> str:
    return driver.start(SECRET)


def current_password() -> str:
    return driver.password(SECRET)


def test_three_rotations_refuse_no_client(
    declared: str, fake: FakeElastiCache, engine: Engine, secrets: FakeSecrets
) -> None:
    seen = {FIRST}
    with driver.Client(engine, "app-user-1", SECRET) as client:
        for _ in range(3):
            driver.rotate(SECRET, seconds=30)
            new = current_password()
            assert new not in seen and engine.authenticates("app-user-1", new)
            seen.add(new)
            # Before the next rotation drops the old password, the client has moved to the new one.
            assert client.wait_until_using(new)
    assert client.refused == 0 and client.accepted > 50, (client.accepted, client.refused)
    assert not engine.authenticates("app-user-1", FIRST)  # dropped by the second rotation's setSecret
    assert all(not set(p) & set(',"/@ ') for p in seen)


def test_a_single_password_rotation_refuses_clients(
    declared: str, fake: FakeElastiCache, engine: Engine, secrets: FakeSecrets
) -> None:
    with driver.Client(engine, "app-user-1", SECRET) as client:
        token = start()
        step("createSecret", token)
        pending = driver.password(SECRET, VersionId=token)
        operator_client("elasticache").modify_user(
            UserId="app-user-1", AuthenticationMode={"Type": "password", "Passwords": [pending]}
        )
        # ... as a single-password setSecret would, marking the version it set.
        operator_client("secretsmanager").update_secret_version_stage(
            SecretId=SECRET, VersionStage=SET_LABEL, MoveToVersionId=token
        )
        # Between setSecret and finishSecret the client still reads the old password: refused.
        assert client.wait_until_refused()
        step("finishSecret", token)


def test_an_interrupted_set_secret_is_retried_and_converges(
    declared: str, fake: FakeElastiCache, engine: Engine, secrets: FakeSecrets
) -> None:
    token = start()
    step("createSecret", token)
    fake.hold("app-user-1", "modifying", 3.0)
    with pytest.raises(Exception, match="deadline"):
        step("setSecret", token, seconds=3.0)  # 1 s of work (margin 2 s in tests): the user is still busy
    assert fake.count("ModifyUser") == 0
    step("setSecret", token)
    step("testSecret", token)
    step("finishSecret", token)
    assert engine.authenticates("app-user-1", FIRST) and engine.authenticates("app-user-1", current_password())


def test_test_secret_run_alone_succeeds_and_changes_nothing(
    declared: str, fake: FakeElastiCache, engine: Engine, secrets: FakeSecrets
) -> None:
    """RotateImmediately=false: testSecret with no createSecret or setSecret before it, on an
    empty AWSPENDING version and on a copy of AWSCURRENT, before and after a whole rotation
    (which leaves the user two passwords)."""
    from rotation import app as rotation

    driver.test_alone(SECRET)
    driver.test_alone(SECRET, copy=True)
    driver.rotate(SECRET, seconds=30)
    current, calls = current_password(), len(secrets.calls)
    modified = fake.count("ModifyUser")
    driver.test_alone(SECRET)
    driver.test_alone(SECRET, copy=True)
    # Only the driver (as Secrets Manager) wrote to the secret: RotateSecret, the copy, the label removal.
    writes = [c for c in secrets.calls[calls:] if c in ("PutSecretValue", "UpdateSecretVersionStage")]
    assert writes == ["UpdateSecretVersionStage", "PutSecretValue", "UpdateSecretVersionStage"]
    assert fake.count("ModifyUser") == modified and current_password() == current
    assert engine.authenticates("app-user-1", current) and fake.users["app-user-1"].password_count == 2
    assert "AWSPENDING" not in str(operator_client("secretsmanager").describe_secret(SecretId=SECRET))
    # What it can check, it checks: a user no longer bound to this secret is refused.
    fake.users["app-user-1"].tags.pop("elasticache-user-resource:password-secret")
    with pytest.raises(rotation.RotationError, match="not declared with secret"):
        driver.test_alone(SECRET)


def refused(token: str, match: str, secret: str = SECRET) -> None:
    from rotation import app as rotation

    with pytest.raises(rotation.RotationError, match=match):
        step("setSecret", token, secret)


def test_refusals_change_nothing(declared: str, fake: FakeElastiCache, engine: Engine, secrets: FakeSecrets) -> None:
    token = start()
    step("createSecret", token)
    # Not owned by this provider, or bound to another secret.
    tags = dict(fake.users["app-user-1"].tags)
    fake.users["app-user-1"].tags = {**tags, "elasticache-user-resource:password-secret": "elasticache/other"}
    refused(token, "not declared with secret")
    fake.users["app-user-1"].tags = {k: v for k, v in tags.items() if not k.endswith(":provider")}
    refused(token, "not owned by this provider")
    fake.users["app-user-1"].tags = tags
    # A pending version that names another user.
    other = json.dumps({"username": "someone", "password": "Other-Passw0rd-000000001", "user_arn": "x:user:someone"})
    token2 = start()
    operator_client("secretsmanager").put_secret_value(
        SecretId=SECRET, ClientRequestToken=token2, SecretString=other, VersionStages=["AWSPENDING"]
    )
    refused(token2, "different users")
    # An IAM user.
    token3 = start()
    step("createSecret", token3)
    fake.users["app-user-1"].authentication_type = "iam"
    refused(token3, "iam user")
    fake.users["app-user-1"].authentication_type = "password"
    # A user an operator holds: a new password would undo its lock-out.
    fake.users["app-user-1"].tags = {**tags, "elasticache-user-resource:hold": "compromised"}
    refused(token3, "elasticache-user-resource:hold")
    fake.users["app-user-1"].tags = tags
    # Guards: a token that is not a version, a version that is current.
    refused("no-such-version-token-000000000000", "has no stage")
    assert fake.count("ModifyUser") == 0 and engine.authenticates("app-user-1", FIRST)


def test_a_finish_secret_before_set_secret_changes_nothing_and_the_genuine_steps_converge(
    declared: str, fake: FakeElastiCache, engine: Engine, secrets: FakeSecrets
) -> None:
    """Anyone who may invoke the rotation function sends finishSecret right after createSecret:
    AWSCURRENT would name a password the user does not hold (and setSecret, seeing its version
    current, would then do nothing). It is refused; Secrets Manager's own steps then converge."""
    from rotation import app as rotation

    token = start()
    step("createSecret", token)
    with pytest.raises(rotation.RotationError, match="finishSecret before setSecret"):
        step("finishSecret", token)
    assert current_password() == FIRST and fake.count("ModifyUser") == 0
    assert "AWSCURRENT" not in secrets.secrets[SECRET].stages[token]
    for name in driver.STEPS[1:]:
        step(name, token)
    assert current_password() != FIRST and engine.authenticates("app-user-1", current_password())
    # The next rotation: its finishSecret before its setSecret is refused too (the label names the last version set).
    again = start()
    step("createSecret", again)
    with pytest.raises(rotation.RotationError, match="finishSecret before setSecret"):
        step("finishSecret", again)


def test_an_update_during_a_rotation_keeps_both_passwords(
    declared: str, fake: FakeElastiCache, engine: Engine, secrets: FakeSecrets, receiver: Receiver, invoke: Invoke
) -> None:
    token = start()
    step("createSecret", token)
    step("setSecret", token)
    pending = driver.password(SECRET, VersionId=token)
    # A stack update changes the authentication while the rotation is between setSecret and finishSecret.
    event = load_event("update.json", receiver)
    event = with_properties(event, Passwords=None, PasswordSecretId=SECRET)
    event["OldResourceProperties"] = {**event["OldResourceProperties"], "Passwords": None}
    event["OldResourceProperties"].pop("Passwords")
    event["OldResourceProperties"]["PasswordParameterName"] = "/elasticache/old"
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert engine.authenticates("app-user-1", FIRST) and engine.authenticates("app-user-1", pending)
    step("testSecret", token)
    step("finishSecret", token)
    assert engine.authenticates("app-user-1", current_password())


def test_the_rotation_role_grants_exactly_what_the_steps_call() -> None:
    import re

    from tests.test_template import HANDLER, camel, statements

    code = (HANDLER / "rotation" / "app.py").read_text()
    used = {f"secretsmanager:{camel(m)}" for m in re.findall(r"(?:self\.secrets|client)\.(\w+)\(", code)}
    assert "secretsmanager:PutSecretValue" in used  # the scan found the calls
    # Through UserLifecycle: settled/tags_of/modify; KMS for secrets under a customer key.
    used |= {"elasticache:DescribeUsers", "elasticache:ListTagsForResource", "elasticache:ModifyUser"}
    used |= {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey"}
    granted = {a for s in statements("RotationRole", kms=True) if s["Effect"] == "Allow" for a in s["Action"]}
    assert granted == used, (granted - used, used - granted)


def test_the_secret_binding_is_written_by_the_custom_resource(declared: str, fake: FakeElastiCache) -> None:
    assert fake.users["app-user-1"].tags["elasticache-user-resource:password-secret"] == SECRET
