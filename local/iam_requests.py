"""The authorization each request needs, as the Service Authorization Reference defines it:
which actions, on which resource ARNs, with which condition keys (sources in
docs/aws-behaviour.md, "IAM policy evaluation"). A stand-in passes its wire parameters and
what only it knows (a resource's current tags, a secret's ARN); `local/iam_gate.py` judges.

- ElastiCache: every user action on the user's ARN with `aws:ResourceTag/*` (the user's tags
  as the stand-in holds them, none for a user that does not exist); CreateUser with
  `aws:RequestTag/*` and `aws:TagKeys`, and, when it carries tags, AddTagsToResource on the
  new user as well (CreateUserGroup likewise, on the group's ARN); Add/RemoveTagsToResource
  with `aws:TagKeys` (and `aws:RequestTag/*`), on a user's or a user group's ARN with its tags;
  ModifyUserGroup on the group and on each user added or removed.
- EventBridge: the rule's ARN; PutTargets with `events:TargetArn`.
- Lambda: the function's ARN; AddPermission with `lambda:Principal`.
- Secrets Manager: the secret's ARN; GetRandomPassword on `*`.
- SSM: the parameter's ARN (`parameter/` + its name without the leading slash); a path's
  for GetParametersByPath.
- EventBridge PutEvents: each entry's bus, with `events:source` and `events:detail-type`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.fake_wire import members, request_tags
from local.iam_gate import ACCOUNT, REGION, authorize
from local.iam_policy import ContextValue

ELASTICACHE = f"arn:aws:elasticache:{REGION}:{ACCOUNT}:"
USER_ARN = ELASTICACHE + "user:"
GROUP_ARN = ELASTICACHE + "usergroup:"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
PARAMETER_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/"

TagsOf = Callable[[str], Mapping[str, str] | None]


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    context: dict[str, ContextValue] = field(default_factory=dict)


def authorize_all(caller: str | None, checks: list[Check]) -> None:
    for check in checks:
        authorize(caller, check.action, [check.resource], check.context)


def _resource_tags(arn: str, tags_of: TagsOf) -> dict[str, ContextValue]:
    return {f"aws:ResourceTag/{k}": v for k, v in (tags_of(arn) or {}).items()}


def _request_tags(tags: Mapping[str, str]) -> dict[str, ContextValue]:
    return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": list(tags)}


def elasticache(action: str, params: Mapping[str, str], tags_of: TagsOf) -> list[Check]:
    """ElastiCache's query-protocol parameters -> the checks (see the module docstring)."""
    name = "elasticache:" + action
    if action in ("CreateUser", "CreateUserGroup"):
        kind, key = (USER_ARN, "UserId") if action == "CreateUser" else (GROUP_ARN, "UserGroupId")
        arn, tags = kind + params.get(key, "").lower(), request_tags(params)
        checks = [Check(name, arn, _request_tags(tags))]
        if tags:
            checks.append(Check("elasticache:AddTagsToResource", arn, _request_tags(tags)))
        return checks
    if action in ("DescribeUsers", "ModifyUser", "DeleteUser"):
        arn = USER_ARN + (params["UserId"].lower() if "UserId" in params else "*")
        return [Check(name, arn, _resource_tags(arn, tags_of))]
    if action in ("ListTagsForResource", "AddTagsToResource", "RemoveTagsFromResource"):
        arn = params.get("ResourceName", "")
        context = _resource_tags(arn, tags_of)
        if action == "AddTagsToResource":
            context.update(_request_tags(request_tags(params)))
        if action == "RemoveTagsFromResource":
            context["aws:TagKeys"] = members(params, "TagKeys")
        return [Check(name, arn, context)]
    if action == "DescribeUserGroups":
        return [Check(name, GROUP_ARN + params.get("UserGroupId", "*").lower())]
    if action == "ModifyUserGroup":
        group = GROUP_ARN + params.get("UserGroupId", "").lower()
        users = [USER_ARN + u for u in members(params, "UserIdsToAdd") + members(params, "UserIdsToRemove")]
        return [Check(name, group, _resource_tags(group, tags_of))] + [
            Check(name, arn, _resource_tags(arn, tags_of)) for arn in users
        ]
    return [Check(name, ELASTICACHE + "*")]


def events(action: str, body: Mapping[str, Any]) -> list[Check]:
    name = "events:" + action
    if action == "PutEvents":
        # On each entry's bus, with events:source and events:detail-type (EventBridge's
        # condition keys, both multivalued: ArrayOfString), each the entry's own value.
        entries = [e for e in body.get("Entries", []) if isinstance(e, Mapping)]
        return [
            Check(
                name,
                BUS_ARN + str(e.get("EventBusName") or "default"),
                {"events:source": [str(e.get("Source", ""))], "events:detail-type": [str(e.get("DetailType", ""))]},
            )
            for e in entries
        ]
    rule = str(body.get("Name") or body.get("Rule") or "*")
    context: dict[str, ContextValue] = {}
    if action == "PutTargets":
        context["events:TargetArn"] = [str(t.get("Arn", "")) for t in body.get("Targets", [])]
    return [Check(name, RULE_ARN + rule, context)]


def function(action: str, body: Mapping[str, Any]) -> list[Check]:
    named = str(body.get("FunctionName", "*"))
    arn = named if named.startswith("arn:") else FUNCTION_ARN + named
    context: dict[str, ContextValue] = {}
    if action == "AddPermission":
        context["lambda:Principal"] = str(body.get("Principal", ""))
    return [Check("lambda:" + action, arn, context)]


def secrets(action: str, body: Mapping[str, Any], arn_of: Callable[[str], str] | None = None) -> list[Check]:
    if action == "GetRandomPassword":
        return [Check("secretsmanager:GetRandomPassword", "*")]
    secret_id = str(body.get("SecretId") or body.get("Name") or "*")
    arn = arn_of(secret_id) if arn_of else secret_id if secret_id.startswith("arn:") else SECRET_ARN + secret_id
    return [Check("secretsmanager:" + action, arn)]


def kms_via_secrets_manager(action: str, key_arn: str) -> Check:
    """What Secrets Manager asks KMS on the caller's behalf for a secret under a customer key."""
    return Check("kms:" + action, key_arn, {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"})


def ssm(action: str, body: Mapping[str, Any]) -> list[Check]:
    # GetParametersByPath is authorized on the path itself, as a parameter ARN.
    names = [str(n) for n in body.get("Names", [])] or [str(body.get("Name") or body.get("Path") or "*")]
    return [Check("ssm:" + action, PARAMETER_ARN + n.lstrip("/")) for n in names]
