"""The cases the differential IAM test (tests/test_iam_differential.py) judges with both
evaluators: each a policy's statements, one action, one resource and a request context.

- `recorded`: every distinct request the IAM gate judged in the last whole test run
  (`.iam-record/`, local/iam_gate.py), against the calling role's resolved policy;
- `shapes`: every call shape `local/iam_requests.py` builds (the wire parameters the functions
  send, with owned, foreign and missing tags, own and foreign targets...), against each role's
  policy under each parameter setting: what the suite does, without waiting for its record;
- `generated`: random policies and requests from a fixed seed, over the operators, wildcards,
  set operators, Null and policy variables both evaluators read.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from local import iam_gate, iam_requests
from local.iam_policy import ContextValue

Case = dict[str, Any]
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PROVIDER_TAG = "elasticache-user-resource:provider"
SECRET_TAG = "elasticache-user-resource:password-secret"  # noqa: S105 - a tag key
FOREIGN_TARGET = "arn:aws:sqs:us-east-1:123456789012:elsewhere"


def _case(origin: str, statements: list[dict[str, Any]], action: str, resource: str, context: Any) -> Case:
    return {"origin": origin, "statements": statements, "action": action, "resource": resource, "context": context}


def _frozen(parameters: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in parameters.items()))


def recorded(folder: Path) -> list[Case]:
    """The distinct requests of the last whole run's record (none without a record)."""
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not files:
        return []
    run = files[-1].name.split("-")[0]
    seen: dict[str, Any] = {}
    for path in (p for p in files if p.name.split("-")[0] == run):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if "request" in entry:
                seen[json.dumps(entry["request"], sort_keys=True)] = entry["request"]
    return [
        _case(
            f"recorded:{r['function']}",
            iam_gate.role_statements(iam_gate.ROLES[r["function"]], _frozen(r["parameters"])),
            r["action"],
            r["resource"],
            r["context"],
        )
        for r in seen.values()
    ]


def _elasticache_calls() -> Iterator[tuple[str, dict[str, str]]]:
    tags = {"Tags.Tag.1.Key": PROVIDER_TAG, "Tags.Tag.1.Value": "{stack}", "Tags.Tag.2.Key": "team"}
    for user in ("app-user-1", "orders-user"):
        yield "CreateUser", {"UserId": user, **tags, "Tags.Tag.2.Value": "payments"}
        yield "CreateUser", {"UserId": user}
        for action in ("DescribeUsers", "ModifyUser", "DeleteUser"):
            yield action, {"UserId": user}
        arn = iam_requests.USER_ARN + user
        yield "ListTagsForResource", {"ResourceName": arn}
        for key in (PROVIDER_TAG, SECRET_TAG, "team"):
            yield "AddTagsToResource", {"ResourceName": arn, "Tags.Tag.1.Key": key, "Tags.Tag.1.Value": "v"}
            yield "RemoveTagsFromResource", {"ResourceName": arn, "TagKeys.member.1": key}
        yield (
            "RemoveTagsFromResource",
            {"ResourceName": arn, "TagKeys.member.1": "team", "TagKeys.member.2": SECRET_TAG},
        )
        for group in ("app-group", "other-group"):
            yield "ModifyUserGroup", {"UserGroupId": group, "UserIdsToAdd.member.1": user}
    yield "DescribeUsers", {}
    for group in ("app-group", "other-group"):
        yield "DescribeUserGroups", {"UserGroupId": group}


def _other_calls() -> Iterator[iam_requests.Check]:
    own, foreign = iam_gate.function_arn("provider"), {"Id": "spy", "Arn": FOREIGN_TARGET}
    for rule in ("ecuser-poll-abc", "AppUser-rule"):
        for action in ("PutRule", "DeleteRule", "RemoveTargets", "ListTargetsByRule"):
            yield from iam_requests.events(action, {"Name": rule, "Rule": rule})
        for targets in ([{"Id": "poll", "Arn": own}], [{"Id": "poll", "Arn": own}, foreign], [foreign], []):
            yield from iam_requests.events("PutTargets", {"Rule": rule, "Targets": targets})
    for source in ("elasticache-user-resource", "aws.elasticache"):
        yield from iam_requests.events("PutEvents", {"Entries": [{"Source": source, "DetailType": "Drift"}]})
    for function in ("provider", "rotation"):
        for principal in ("events.amazonaws.com", "s3.amazonaws.com"):
            body = {"FunctionName": iam_gate.FUNCTION_NAMES[function], "Principal": principal}
            yield from iam_requests.function("AddPermission", body)
        yield from iam_requests.function("RemovePermission", {"FunctionName": iam_gate.FUNCTION_NAMES[function]})
    for secret in ("elasticache/app-user-1", "other/secret"):
        for action in ("GetSecretValue", "DescribeSecret", "PutSecretValue", "UpdateSecretVersionStage"):
            yield from iam_requests.secrets(action, {"SecretId": secret})
    yield from iam_requests.secrets("GetRandomPassword", {})
    for action in ("Decrypt", "GenerateDataKey"):
        yield iam_requests.kms_via_secrets_manager(action, KEY)
        yield iam_requests.Check("kms:" + action, KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com"})
    for name in ("/elasticache-user-resource/state/x", "/other/x"):
        for action in ("GetParameter", "PutParameter", "DeleteParameter", "GetParametersByPath"):
            yield from iam_requests.ssm(action, {"Name": name, "Path": name})


def _tags(tags: dict[str, str] | None, _arn: str) -> dict[str, str] | None:
    """A resource's tags as a stand-in holds them: owned, another stack's, or none."""
    return tags


def shapes(stack: str) -> list[Case]:
    """Every call shape against every role's policy, under each parameter setting."""
    owners: list[dict[str, str] | None] = [{PROVIDER_TAG: stack}, {PROVIDER_TAG: stack + "-other"}, None]
    checks: list[iam_requests.Check] = list(_other_calls())
    for tags in owners:
        for action, params in _elasticache_calls():
            params = {k: v.replace("{stack}", stack) for k, v in params.items()}
            checks.extend(iam_requests.elasticache(action, params, functools.partial(_tags, tags)))
    settings: list[dict[str, Any]] = [{}, {"UserIdPrefix": "app-", "UserGroupIdPrefix": "app-"}, {"KmsKeyArns": [KEY]}]
    cases: dict[str, Case] = {}  # a setting that leaves a role's policy as it was adds nothing
    for setting in settings:
        parameters = {"AWS::StackId": stack, "UserIdPrefix": "", "UserGroupIdPrefix": "", "KmsKeyArns": [], **setting}
        for role in iam_gate.ROLES.values():
            statements = iam_gate.role_statements(role, _frozen(parameters))
            for c in checks:
                case = _case(f"shape:{role}", statements, c.action, c.resource, c.context)
                cases.setdefault(key(case), case)
    return list(cases.values())


def key(case: Case) -> str:
    """What a case asks, without where it came from."""
    return json.dumps({k: case[k] for k in ("statements", "action", "resource", "context")}, sort_keys=True)


# Random policies -----------------------------------------------------------------------------

ACTIONS = [
    "elasticache:ModifyUser",
    "elasticache:AddTagsToResource",
    "events:PutTargets",
    "events:PutEvents",
    "lambda:AddPermission",
    "secretsmanager:GetSecretValue",
    "s3:GetObject",
]
# The last: a wildcard in the service prefix, which the Guide does not allow.
ACTION_PATTERNS = ["*", "{s}:*", "{s}:{a}", "{s}:{A}", "{s}:{a3}*", "{s}:?{a1}", "{s}:*{a4}", "{s}:Other", "{s1}*:{a}"]
RESOURCES = [
    "arn:aws:elasticache:us-east-1:123456789012:user:app-user-1",
    "arn:aws:elasticache:us-east-1:123456789012:user:app:user",
    "arn:aws:events:us-east-1:123456789012:rule/ecuser-poll-a",
    "arn:aws:lambda:us-east-1:123456789012:function:user-provider-elasticache-user",
    "arn:aws:lambda:us-east-1:123456789012:function:f:alias",
    "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:s",
    "arn:aws:iam::123456789012:user/ann",
    "arn:aws:s3:::bucket/dir/ann.txt",
]
# Context keys: name -> (multivalued?, kind, values drawn from).
KEYS: dict[str, tuple[bool, str, list[str]]] = {
    "aws:ResourceTag/team": (False, "string", ["payments", "Payments", "orders", "pay*", ""]),
    "aws:RequestTag/team": (False, "string", ["payments", "orders", "a*b"]),
    "aws:PrincipalTag/team": (False, "string", ["payments", "orders"]),
    "aws:username": (False, "string", ["ann", "bob"]),
    "lambda:Principal": (False, "string", ["events.amazonaws.com", "s3.amazonaws.com"]),
    "aws:SourceArn": (False, "arn", RESOURCES),
    "aws:SecureTransport": (False, "bool", ["true", "false"]),
    "aws:MultiFactorAuthAge": (False, "numeric", ["0", "30", "3600", "x"]),  # x: no number
    "aws:TagKeys": (True, "string", ["team", "owner", "elasticache-user-resource:provider", "Team"]),
    "events:source": (True, "string", ["elasticache-user-resource", "aws.elasticache"]),
    "events:TargetArn": (True, "arn", [*RESOURCES[3:5], FOREIGN_TARGET]),
}
OPERATORS = {
    "string": [
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
    ],
    "arn": ["ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"],
    "bool": ["Bool"],
    "numeric": ["NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericGreaterThanEquals"],
}
VARIABLES = ["${aws:username}", "${aws:PrincipalTag/team}", "${aws:username, 'guest'}", "${*}"]


def _pattern(rng: random.Random, text: str, resource: bool = False) -> str:
    """A wildcard pattern made from `text`: a character or a segment's tail wildcarded (in a
    resource, a policy variable only after the fifth colon, where the Guide allows one). An
    ARN keeps its six parts but once in ten tries (ours refuses fewer)."""
    for _ in range(3):
        pattern = _mutated(rng, text, resource)
        whole = resource and pattern == "*"
        if not text.startswith("arn:") or len(pattern.split(":")) >= 6 or whole or rng.random() < 0.1:
            return pattern
    return text


def _mutated(rng: random.Random, text: str, resource: bool) -> str:
    choice = rng.randrange(8)
    if choice == 4 and resource:
        head, _, tail = text.rpartition(":")
        at = rng.randrange(len(tail) + 1)
        return f"{head}:{tail[:at]}{rng.choice(VARIABLES)}{tail[at + 1 :]}"
    if choice == 0 or len(text) < 4:
        return text
    at = rng.randrange(len(text))
    if choice == 1:
        return text[:at] + "*"
    if choice == 2:
        return text[:at] + "*" + text[rng.randrange(at, len(text)) :]
    if choice == 3:
        return text[:at] + "?" + text[at + 1 :]
    if choice == 4:
        return text[:at] + rng.choice(VARIABLES) + text[at + 1 :]
    if choice == 5:
        parts = text.split(":")
        parts[rng.randrange(len(parts))] = "*"
        return ":".join(parts)
    if choice == 6:
        return text.upper() if rng.random() < 0.5 else text.replace("1", "2")
    return "*"


def _action(rng: random.Random) -> str:
    service, name = rng.choice(ACTIONS).split(":")
    pattern = rng.choice(ACTION_PATTERNS[:-1]) if rng.random() < 0.99 else ACTION_PATTERNS[-1]
    return pattern.format(s=service, a=name, A=name.upper(), a3=name[:3], a1=name[1:], a4=name[4:], s1=service[:2])


def _condition(rng: random.Random) -> dict[str, dict[str, Any]]:
    key = rng.choice(list(KEYS))
    multivalued, kind, pool = KEYS[key]
    if rng.random() < 0.15:
        return {"Null": {key: rng.choice(["true", "false"])}}
    operator = rng.choice(OPERATORS[kind])
    if kind in ("string", "arn") and rng.random() < 0.2:
        operator += "IfExists"
    # A plain operator on a multivalued key, now and then: the template's old mistake.
    if multivalued and rng.random() < 0.95:
        operator = rng.choice(["ForAllValues:", "ForAnyValue:"]) + operator
    numbers = [v for v in pool if v != "x"]  # a policy's numeric value is a number; a request's may not be
    values = [
        _pattern(rng, rng.choice(pool)) if kind in ("string", "arn") else rng.choice(numbers)
        for _ in range(rng.randint(1, 2))
    ]
    return {operator: {key: values if len(values) > 1 else values[0]}}


def _statement(rng: random.Random) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow" if rng.random() < 0.7 else "Deny"}
    statement["NotAction" if rng.random() < 0.1 else "Action"] = [_action(rng) for _ in range(rng.randint(1, 2))]
    resources = [_pattern(rng, rng.choice(RESOURCES), resource=True) for _ in range(rng.randint(1, 2))]
    statement["NotResource" if rng.random() < 0.1 else "Resource"] = resources
    conditions: dict[str, dict[str, Any]] = {}
    for _ in range(rng.choice([0, 1, 1, 2])):
        for operator, keys in _condition(rng).items():
            conditions.setdefault(operator, {}).update(keys)
    if conditions:
        statement["Condition"] = conditions
    return statement


def _context(rng: random.Random) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {}
    for key, (multivalued, _, pool) in KEYS.items():
        if rng.random() < 0.5:
            continue
        context[key] = rng.sample(pool, rng.randint(0, min(3, len(pool)))) if multivalued else rng.choice(pool)
    return context


def generated(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        statements = [_statement(rng) for _ in range(rng.randint(1, 3))]
        action = rng.choice(ACTIONS)
        resource = rng.choice(RESOURCES)
        cases.append(_case("generated", statements, action, resource, _context(rng)))
    return cases
