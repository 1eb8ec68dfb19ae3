"""A failure the handler cannot catch (the Lambda timeout, out of memory, a crash at start-up)
still answers CloudFormation: Lambda's OnFailure record reaches `failure.lambda_handler`,
which answers FAILED with a reason pointing to the logs."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from local import iam_gate
from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.receiver import Receiver
from tests.conftest import EVENTS, OWNER, ROOT, Invoke, load_event


def record(payload: dict[str, Any]) -> dict[str, Any]:
    """Lambda's failed-invocation record (tests/events/async-failure-create.json) around `payload`."""
    wrapper: dict[str, Any] = json.loads((ROOT / "tests" / "events" / "async-failure-create.json").read_text())
    wrapper["requestPayload"] = payload
    return wrapper


def notify(event: Any) -> None:
    from notifier import app as failure

    with iam_gate.acting("notifier"):
        failure.lambda_handler(event, LambdaContext(timeout_seconds=30))


def test_a_timed_out_delete_is_answered_failed_with_a_pointer_to_the_logs(
    fake: FakeElastiCache, receiver: Receiver
) -> None:
    notify(record(load_event("delete.json", receiver)))
    [answer] = receiver.wait_for(1)
    assert answer.body["Status"] == "FAILED" and answer.body["PhysicalResourceId"] == "app-user-1"
    reason = answer.body["Reason"]
    assert "RetriesExhausted" in reason and "Task timed out" in reason and "see its logs" in reason
    assert "8c1d1f6e-0000-4e1b-9a3e-00000000000a" in reason


def test_a_failed_create_names_the_user_it_made_so_the_rollback_deletes_it(
    fake: FakeElastiCache, receiver: Receiver, invoke: Invoke
) -> None:
    fake.add_user("app-user-1", tags={**OWNER, "team": "payments"})
    notify(record(load_event("create.json", receiver)))
    [answer] = receiver.wait_for(1)
    assert (answer.body["Status"], answer.body["PhysicalResourceId"]) == ("FAILED", "app-user-1")
    rollback = load_event("delete.json", receiver, PhysicalResourceId="app-user-1")
    assert invoke(rollback)[-1].body["Status"] == "SUCCESS" and "app-user-1" in fake.gone_at


def test_a_failed_create_of_someone_elses_user_names_nothing(fake: FakeElastiCache, receiver: Receiver) -> None:
    fake.add_user("app-user-1", tags={"owner": "someone-else"})
    notify(record(load_event("create.json", receiver)))
    [answer] = receiver.wait_for(1)
    assert answer.body["PhysicalResourceId"].startswith("not-created_")
    assert "DeleteUser" not in fake.actions() and "Example-Passw0rd" not in json.dumps(answer.body)


@pytest.mark.parametrize("event", [{}, {"requestPayload": "x"}, [], {"requestPayload": {"RequestType": "Create"}}])
def test_anything_else_is_ignored(event: Any, fake: FakeElastiCache, receiver: Receiver) -> None:
    notify(event)
    assert receiver.deliveries == [] and fake.calls == []


def test_a_start_up_failure_still_answers_every_request(
    fake: FakeElastiCache, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from provider import app
    from runtime import config

    def broken() -> config.Settings:
        raise ValueError("broken start")

    monkeypatch.setattr(config.Settings, "from_environment", staticmethod(broken))
    try:
        importlib.reload(app)
        app.lambda_handler(
            json.loads((EVENTS / "delete.json").read_text()) | {"ResponseURL": receiver.url()}, LambdaContext(30)
        )
        [answer] = receiver.wait_for(1)
        assert answer.body["Status"] == "FAILED" and "failed to start (ValueError)" in answer.body["Reason"]
        assert answer.body["PhysicalResourceId"] == "app-user-1" and fake.calls == []
    finally:
        monkeypatch.undo()
        importlib.reload(app)
