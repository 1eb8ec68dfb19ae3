"""Contracts an outside review found untested: secrets read by their shape, the binding tag of a
take-over, the order of an authentication change and a group join, group undo across a
hand-over, and ServiceTimeout in the first invocation."""

from __future__ import annotations

import json

from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver
from local.fake_secrets import FakeSecrets
from local.receiver import Receiver
from tests.conftest import OWNER, Invoke, load_event, stored_poll, with_properties

SECRET = "elasticache/app-user-1"
SECRET_TAG = "elasticache-user-resource:password-secret"
ADOPTED = "elasticache-user-resource:adopted"


def test_a_password_made_of_digits_is_plain_text(
    fake: FakeElastiCache, secrets: FakeSecrets, receiver: Receiver, invoke: Invoke
) -> None:
    # JSON would read it as a number; only an object or an array is JSON.
    secrets.add("elasticache/digits", "1234567890123456789")
    [answer] = invoke(
        with_properties(load_event("create-secret.json", receiver), PasswordSecretId="elasticache/digits")
    )
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert fake.users["app-user-1"].passwords == ["1234567890123456789"]
    secrets.add("elasticache/json", json.dumps({"password": "Json-Object-Passw0rd-01"}))
    event = with_properties(load_event("create-secret.json", receiver), UserId="json-user", UserName="json-user")
    invoke(with_properties(event, PasswordSecretId="elasticache/json"))
    assert fake.users["json-user"].passwords == ["Json-Object-Passw0rd-01"]


def test_a_take_over_binds_the_user_to_its_secret_in_a_call_of_its_own(
    fake: FakeElastiCache, secrets: FakeSecrets, receiver: Receiver, invoke: Invoke
) -> None:
    secrets.add(SECRET, json.dumps({"username": "app-user-1", "password": "Secret-Passw0rd-000001"}))
    fake.add_user("app-user-1", tags={"owner": "someone-else"})
    event = with_properties(load_event("create-secret.json", receiver), AdoptExistingUser="true")
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    tags = fake.users["app-user-1"].tags
    assert tags == {
        "owner": "someone-else",
        "team": "payments",
        **OWNER,
        SECRET_TAG: SECRET,
        ADOPTED: event["RequestId"],
    }
    # The IAM policy allows the binding key only alone (stream of the IAM evaluator).
    # (A call met while tagging is busy is retried: every try carries the key alone.)
    binding = [p for a, p in fake.calls if a == "AddTagsToResource" and SECRET_TAG in p.values()]
    assert binding and all([v for k, v in p.items() if k.endswith(".Key")] == [SECRET_TAG] for p in binding)


def group_update(receiver: Receiver, old: dict[str, object], new: dict[str, object]) -> dict[str, object]:
    """An Update of app-user-1 from the create event's properties changed by `old` to those changed by `new`."""
    event = load_event("update.json", receiver)
    base = load_event("create.json", receiver)["ResourceProperties"]
    event["OldResourceProperties"] = with_properties({"ResourceProperties": base}, **old)["ResourceProperties"]
    return with_properties({**event, "ResourceProperties": base}, **new)


def test_a_new_password_goes_before_the_valkey_group_that_needs_it(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user(
        "app-user-1",
        access_string="on ~app:* +@read +@write",
        authentication_type="no-password",
        password_count=0,
        tags={**OWNER, "team": "payments"},
    )
    fake.add_group("valkey-group", engine="valkey")
    event = group_update(
        receiver, {"Passwords": None, "NoPasswordRequired": "true"}, {"UserGroupIds": ["valkey-group"]}
    )
    [answer] = invoke(event)
    assert answer.body["Status"] == "SUCCESS", answer.body["Reason"]
    assert "app-user-1" in fake.groups["valkey-group"].user_ids
    assert fake.users["app-user-1"].authentication_type == "password"
    actions = fake.actions()
    assert actions.index("ModifyUser") < actions.index("ModifyUserGroup")


def test_the_target_authentication_is_checked_against_every_group_it_stays_in(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", access_string="on ~app:* +@read +@write", tags={**OWNER, "team": "payments"})
    fake.add_group("valkey-group", engine="valkey", members=("app-user-1",))
    event = group_update(
        receiver,
        {"UserGroupIds": ["valkey-group"]},
        {"UserGroupIds": ["valkey-group"], "Passwords": None, "NoPasswordRequired": "true"},
    )
    [answer] = invoke(event)
    assert answer.body["Status"] == "FAILED"
    assert "valkey group" in answer.body["Reason"]
    assert "ModifyUser" not in fake.actions() and fake.users["app-user-1"].authentication_type == "password"


def test_a_poll_that_fails_undoes_the_joins_of_the_invocation_before_it(
    fake: FakeElastiCache, poll_function: str, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", access_string="on ~app:* +@read +@write", tags={**OWNER, "team": "payments"})
    fake.add_group("a")
    fake.add_group("b")
    fake.group_modify_seconds = 3.0
    # The first invocation joins a, and hands over while a is still modifying (its 4 s leave
    # about 1.3 s of work: the consent of a and b is read first, then a is joined).
    assert invoke(group_update(receiver, {}, {"UserGroupIds": ["a", "b"]}), timeout=4.0) == []
    poll = json.loads(stored_poll()[1])
    assert poll["ElastiCacheUserPoll"]["resume"]["joined"] == ["a"]
    # The poll finds a joined, and b refuses the user: the whole request's joins are undone.
    fake.faults = [("ModifyUserGroup", "InvalidParameterValue")]
    [answer] = invoke(poll, timeout=15.0)
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == "app-user-1"
    assert fake.wait_until(lambda f: f.groups["a"].status == "active")
    assert "app-user-1" not in fake.groups["a"].user_ids + fake.groups["b"].user_ids


def test_a_poll_state_of_an_earlier_version_is_still_read() -> None:
    from cloudformation.work import Converging, as_json, from_json

    old: dict[str, object] = {"modify": {}, "remove_tags": [], "set_tags": {}, "secret": None, "join": ["b"]}
    state = from_json(old)
    assert isinstance(state, Converging) and state.joined == () and state.work.join == ("b",)
    assert from_json(as_json(Converging(state.work, joined=("a",), left=("c",)))) == Converging(
        state.work, joined=("a",), left=("c",)
    )


def test_the_first_invocation_answers_within_service_timeout_and_undoes_first(
    fake: FakeElastiCache, poll_function: str, hand_over: FakeHandOver, receiver: Receiver, invoke: Invoke
) -> None:
    import time

    group = fake.add_group("busy")
    group.status, group.settle_at = "modifying", fake.clock() + 60  # busy for a minute
    event = with_properties(load_event("create.json", receiver), UserGroupIds=["busy"], ServiceTimeout="5")
    started = time.monotonic()
    [answer] = invoke(event, timeout=30.0)
    # Bounded by deadlines (work, undo, answer), not by the machine's speed: well inside 5 s.
    assert time.monotonic() - started < 5.0
    assert answer.body["Status"] == "FAILED" and "ServiceTimeout (5 s)" in answer.body["Reason"]
    assert answer.body["PhysicalResourceId"].startswith("not-created_")
    # Undone before the answer (the user it made is gone), and nothing after it: no poll.
    assert "app-user-1" not in fake.users and fake.count("ModifyUserGroup") == 0
    assert hand_over.calls == []


def test_a_delete_imports_no_property_table() -> None:
    """Cold start: the handler's import (what a Delete pays) leaves the property and access-string
    tables, and the Create/Update machinery, to the first Create or Update, and the hand-over's
    (polling) to the first hand-over (bench: coldstart)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = "import sys, provider.app; print(sorted(m for m in {LAZY} if m in sys.modules))"
    lazy = (
        "rules.properties",
        "rules.property_table",
        "rules.access_string",
        "provider.converge",
        "rules.secrets_source",
        "cloudformation.polling",
    )
    path = os.pathsep.join([str(ROOT / "src" / "handler"), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-c", code.format(LAZY=lazy)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        check=True,
    )
    assert done.stdout.strip() == "[]"
