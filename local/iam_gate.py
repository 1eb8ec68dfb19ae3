"""The IAM gate of the stand-ins: each request a stand-in receives is judged by the calling
function's own role policy, read from `template.yaml` and resolved with the test's parameters.

The hook, one line in a stand-in before it answers (raises AccessDenied, which the stand-in
renders in its protocol: `AccessDenied` HTTP 403 in ElastiCache's query protocol,
`AccessDeniedException` in the JSON ones):

    iam_gate.authorize(iam_gate.caller(self.headers), "ssm:GetParameter", [arn], context)

`context` holds the request's condition keys as the Service Authorization Reference names
them (`aws:ResourceTag/<key>`, `aws:RequestTag/<key>`, `aws:TagKeys`, `kms:ViaService`...);
`local/iam_requests.py` builds them for the services modelled so far.

Who calls: the functions run in the test process, so the caller is a process-wide setting,
`acting(function)` ("provider" by default, "notifier", "rotation"); a request signed with
the access key id `operator` is the test's own setup or inspection and is not judged (tests
use `local.iam_gate.operator_client`). A request signed with a role's name as access key id
(e.g. `RotationRole`) is judged as that role: a function run in a subprocess.

The parameters: `AWS::StackId` is PROVIDER_ID, `UserIdPrefix` USER_ID_PREFIX and
`UserGroupIdPrefix` USER_GROUP_ID_PREFIX, read from the environment at each request (a test
that sets them is judged with them); `parameters(...)` overrides others (KmsKeyArns,
PasswordSecretsPrefix) for a block. The gate is off until `enforce()` (tests/conftest.py).

Every decision is kept in `decisions` ((function, action, Sid or refusal) -> count), which
`write_record` appends to a file for `python -m lint.permissions` (docs/permissions.md), with
each distinct request judged (`requests`: function, parameters, action, resource, context), which
the differential test (tests/test_iam_differential.py) judges again with another evaluator.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lint.cfn_yaml import load_template, resolve
from local.iam_policy import Context, Statement, compile_policy, evaluate

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_NAME = "user-provider"
# The function names the template gives (FunctionName: ${AWS::StackName}-...).
FUNCTION_NAMES = {
    "provider": f"{STACK_NAME}-elasticache-user",
    "notifier": f"{STACK_NAME}-ecuser-failure",
    "rotation": f"{STACK_NAME}-ecuser-rotation",
    "drift": f"{STACK_NAME}-ecuser-drift",
}
ROLES = {
    "provider": "ElastiCacheUserRole",
    "notifier": "FailureNotifierRole",
    "rotation": "RotationRole",
    "drift": "DriftRole",
}
OPERATOR = "operator"


class AccessDenied(Exception):
    """A request the caller's role may not make, with AWS's message."""

    def __init__(self, function: str, action: str, resource: str, explicit: bool) -> None:
        why = (
            "with an explicit deny in an identity-based policy"
            if explicit
            else f"because no identity-based policy allows the {action} action"
        )
        self.message = (
            f"User: {principal_arn(function)} is not authorized to perform: {action} on resource: {resource} {why}"
        )
        super().__init__(self.message)
        self.function, self.action, self.resource = function, action, resource


def principal_arn(function: str) -> str:
    """The assumed-role session ARN a function's calls carry (CloudFormation names the role
    `<stack>-<LogicalId>-<suffix>`; Lambda names the session after the function)."""
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{STACK_NAME}-{ROLES[function]}-1A2B3C4D5E6F/{FUNCTION_NAMES[function]}"


def function_arn(function: str = "provider") -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAMES[function]}"


# Process-wide state: the stand-ins answer on their own threads, so nothing here is per thread.
_state: dict[str, Any] = {"enforcing": False, "acting": "provider", "overrides": {}}
decisions: Counter[tuple[str, str, str]] = Counter()
# AWS's message for each refusal (what a reader of the record needs to see the call's shape).
refusals: Counter[str] = Counter()
# Each distinct request judged, as one JSON text (see `write_record`).
requests: set[str] = set()


def enforce(on: bool = True) -> None:
    _state["enforcing"] = on


@contextmanager
def acting(function: str) -> Iterator[None]:
    """Judge the block's requests as `function`'s ("provider", "notifier", "rotation")."""
    if function not in ROLES:
        raise ValueError(f"unknown function {function!r}: one of {sorted(ROLES)}")
    before, _state["acting"] = _state["acting"], function
    try:
        yield
    finally:
        _state["acting"] = before


@contextmanager
def parameters(**values: Any) -> Iterator[None]:
    """Resolve the policies with these template parameters for the block (e.g. KmsKeyArns)."""
    before, _state["overrides"] = _state["overrides"], {**_state["overrides"], **values}
    try:
        yield
    finally:
        _state["overrides"] = before


CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def caller(headers: Mapping[str, str] | Any) -> str | None:
    """The function a request comes from (None: the test's operator, not judged)."""
    found = CREDENTIAL.search(str(headers.get("Authorization", "")))
    key = found.group(1) if found else OPERATOR
    if key == OPERATOR:
        return None
    by_role = {role: function for function, role in ROLES.items()}
    return by_role.get(key, str(_state["acting"]))


def operator_client(service: str, **arguments: Any) -> Any:
    """A boto3 client for a test's own setup and checks, which the gate does not judge."""
    import boto3

    make: Any = boto3.client
    return make(service, aws_access_key_id=OPERATOR, aws_secret_access_key=OPERATOR, **arguments)


def current_parameters() -> tuple[tuple[str, Any], ...]:
    kms = _state["overrides"].get("KmsKeyArns", [])
    values = {
        "AWS::StackId": os.environ.get("PROVIDER_ID", ""),
        "UserIdPrefix": os.environ.get("USER_ID_PREFIX", ""),
        "UserGroupIdPrefix": os.environ.get("USER_GROUP_ID_PREFIX", ""),
        **_state["overrides"],
        "KmsKeyArns": tuple(kms),
    }
    return tuple(sorted(values.items()))


def authorize(function: str | None, action: str, resources: Sequence[str], context: Context | None = None) -> None:
    """Raise AccessDenied unless `function`'s role allows `action` on every resource."""
    if function is None or not _state["enforcing"]:
        return
    parameters = current_parameters()
    statements = role_policy(ROLES[function], parameters)
    for resource in resources:
        requests.add(
            json.dumps(
                {
                    "function": function,
                    "parameters": dict(parameters),
                    "action": action,
                    "resource": resource,
                    "context": dict(context or {}),
                },
                sort_keys=True,
            )
        )
        decision = evaluate(statements, action, resource, context)
        decisions[(function, action, decision.sid if decision.allowed and decision.sid else "REFUSED")] += 1
        if not decision.allowed:
            denied = AccessDenied(function, action, resource, explicit=decision.effect == "Deny")
            refusals[f"{denied.message} (context: {sorted(context or {})})"] += 1
            raise denied


def write_record(path: Path) -> None:
    """Append this process's decisions to `path` (one JSON object a line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for (function, action, sid), count in sorted(decisions.items()):
            out.write(json.dumps({"function": function, "action": action, "sid": sid, "count": count}) + "\n")
        for message, count in sorted(refusals.items()):
            out.write(json.dumps({"refused": message, "count": count}) + "\n")
        for request in sorted(requests):
            out.write(json.dumps({"request": json.loads(request)}) + "\n")


# Resolving the template ------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _values(parameters: Mapping[str, Any]) -> dict[str, Any]:
    declared = template().get("Parameters", {})
    values: dict[str, Any] = {name: p.get("Default", "") for name, p in declared.items()}
    for name, p in declared.items():
        if p.get("Type") == "CommaDelimitedList" and isinstance(values[name], str):
            values[name] = [v for v in values[name].split(",") if v]
    values.update(
        {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK_NAME,
            "AWS::URLSuffix": "amazonaws.com",
        }
    )
    values.update({k: list(v) if isinstance(v, tuple) else v for k, v in parameters.items()})
    return values


def _get_att(logical_id: str, attribute: str) -> str:
    resource = template()["Resources"][logical_id]
    if resource["Type"] == "AWS::Serverless::Function" and attribute == "Arn":
        role = resource["Properties"]["Role"]["Fn::GetAtt"]
        role = role.split(".")[0] if isinstance(role, str) else role[0]
        return function_arn(next(f for f, name in ROLES.items() if name == role))
    if resource["Type"] == "AWS::IAM::Role" and attribute == "Arn":
        return f"arn:aws:iam::{ACCOUNT}:role/{STACK_NAME}-{logical_id}-1A2B3C4D5E6F"
    raise KeyError(f"Fn::GetAtt {logical_id}.{attribute} is not modelled")


@functools.lru_cache(maxsize=64)
def role_policy(role: str, parameters: tuple[tuple[str, Any], ...]) -> tuple[Statement, ...]:
    """Every statement of the role's inline policies, resolved and compiled (cached per setting)."""
    return compile_policy(role_statements(role, parameters))


def role_statements(role: str, parameters: tuple[tuple[str, Any], ...]) -> list[dict[str, Any]]:
    """Every statement of the role's inline policies, resolved with `parameters`."""
    values = _values(dict(parameters))
    conditions: dict[str, bool] = {}
    for name, expression in template().get("Conditions", {}).items():
        conditions[name] = bool(resolve(expression, values, conditions, _get_att))
    statements: list[dict[str, Any]] = []
    for policy in template()["Resources"][role]["Properties"].get("Policies", []):
        document = resolve(policy["PolicyDocument"], values, conditions, _get_att)
        statements.extend(document.get("Statement", []))
    return statements
