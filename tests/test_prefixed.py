"""The lifecycle tests of test_create, test_update and test_delete again, from a provider deployed
with UserIdPrefix and UserGroupIdPrefix `app-`: the provider's Scope and its role policy (the
IAM gate reads the same variables, local/iam_gate.py) both confined to the prefixes. Every
user of those tests is `app-...`, so each must pass as it does without prefixes."""

from __future__ import annotations

import pytest

from provider import app
from provider.cfn_resource import UserResource
from runtime.config import Settings
from tests import test_create, test_delete, test_update


@pytest.fixture(autouse=True)
def prefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER_ID_PREFIX", "app-")
    monkeypatch.setenv("USER_GROUP_ID_PREFIX", "app-")
    monkeypatch.setattr(app, "resource", UserResource(Settings.from_environment()))


for _module in (test_create, test_update, test_delete):
    for _name in dir(_module):
        if _name.startswith("test_"):
            globals()[f"{_name}_prefixed"] = getattr(_module, _name)
