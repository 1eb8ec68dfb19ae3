"""The provider's scope, as the code enforces it: a provider touches only users under its
UserIdPrefix, made (tagged) by itself, and adopts none unless its stack sets AllowAdoption."""

from __future__ import annotations

from typing import Any

from local.context import LambdaContext
from local.fake_elasticache import FakeElastiCache
from local.receiver import Delivery, Receiver
from provider.cfn_resource import UserResource
from runtime.config import Settings
from runtime.scope import Scope
from tests.conftest import OWNER, PROVIDER, load_event, with_properties


def answer(receiver: Receiver, event: dict[str, Any], **scope: Any) -> Delivery:
    """One request through a provider deployed with these parameters."""
    settings = Settings.from_environment()
    settings = settings._replace(scope=settings.scope._replace(**scope))
    before = len(receiver.deliveries)
    UserResource(settings).handle(event, LambdaContext(30))
    return receiver.wait_for(before + 1)[-1]


def test_created_users_carry_this_providers_tag(fake: FakeElastiCache, receiver: Receiver) -> None:
    assert answer(receiver, load_event("create.json", receiver)).body["Status"] == "SUCCESS"
    assert fake.users["app-user-1"].tags["elasticache-user-resource:provider"] == PROVIDER
    assert Scope.from_environment().provider_id == PROVIDER


def test_user_ids_outside_the_prefix_are_refused_before_any_call(fake: FakeElastiCache, receiver: Receiver) -> None:
    create = answer(receiver, load_event("create.json", receiver), user_id_prefix="orders-")
    assert create.body["Status"] == "FAILED" and "UserIdPrefix" in create.body["Reason"]
    assert "'orders-'" in create.body["Reason"] and not create.body["PhysicalResourceId"].startswith("app-user")
    fake.add_user("app-user-1", tags=dict(OWNER))
    delete = answer(receiver, load_event("delete.json", receiver), user_id_prefix="orders-")
    assert delete.body["Status"] == "FAILED" and "UserIdPrefix" in delete.body["Reason"]
    update = answer(receiver, load_event("update.json", receiver), user_id_prefix="orders-")
    assert update.body["Status"] == "FAILED" and "UserIdPrefix" in update.body["Reason"]
    assert fake.calls == []
    inside = answer(receiver, load_event("delete.json", receiver, RequestId="inside"), user_id_prefix="app-")
    assert inside.body["Status"] == "SUCCESS"


def test_adoption_is_refused_unless_the_provider_allows_it(fake: FakeElastiCache, receiver: Receiver) -> None:
    fake.add_user("app-user-1", tags={"owner": "someone-else"})
    adopt = with_properties(load_event("create.json", receiver), AdoptExistingUser="true")
    refused = answer(receiver, adopt, allow_adoption=False)
    assert refused.body["Status"] == "FAILED" and "AllowAdoption" in refused.body["Reason"]
    assert fake.calls == []
    delete = with_properties(load_event("delete.json", receiver), AdoptExistingUser="true")
    not_deleted = answer(receiver, delete, allow_adoption=False)
    assert not_deleted.body["Status"] == "FAILED" and "AllowAdoption" in not_deleted.body["Reason"]
    assert "DeleteUser" not in fake.actions() and "AddTagsToResource" not in fake.actions()
    assert answer(receiver, {**adopt, "RequestId": "allowed"}, allow_adoption=True).body["Status"] == "SUCCESS"


def test_a_user_made_by_another_provider_is_not_deleted(fake: FakeElastiCache, receiver: Receiver) -> None:
    fake.add_user("app-user-1", tags={**OWNER, "elasticache-user-resource:provider": "another-provider"})
    refused = answer(receiver, load_event("delete.json", receiver))
    assert refused.body["Status"] == "FAILED" and "another owner" in refused.body["Reason"]
    assert "(provider)" in refused.body["Reason"]
    assert "DeleteUser" not in fake.actions()
