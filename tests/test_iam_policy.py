"""local/iam_policy.py against the IAM User Guide's own examples (policy evaluation logic,
condition operators, multivalued context keys), then the template's three role policies,
resolved by local/iam_gate.py, against the requests they must allow and refuse: what the
policy literals in test_template.py used to assert, proven by evaluation instead."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lint import iam_policies, permissions
from lint.cfn_yaml import load_template
from local import iam_differential, iam_gate
from local.fake_handover import FakeHandOver
from local.iam_policy import Context, PolicyError, compile_policy, evaluate

ALLOW_ALL = {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}
TAG_KEYS_CREATED = {"ForAllValues:StringLike": {"aws:TagKeys": "Created*"}}


def decide(statement: dict[str, Any], action: str = "s3:GetObject", resource: str = "*", **context: Any) -> str:
    """Allow / Deny / ImplicitDeny of one statement (plus ALLOW_ALL when it is a Deny)."""
    statements = [statement, ALLOW_ALL] if statement["Effect"] == "Deny" else [statement]
    decision = evaluate(
        compile_policy(statements), action, resource, {k.replace("__", ":"): v for k, v in context.items()}
    )
    return decision.effect if decision.sid != "All" else "Allow"


def allow(**fields: Any) -> dict[str, Any]:
    return {"Sid": "S", "Effect": "Allow", "Action": "*", "Resource": "*", **fields}


DOCS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    # Policy evaluation logic: an explicit deny overrides any allow; nothing allowed is denied.
    ("explicit deny wins", {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}, {}, "Deny"),
    ("implicit deny", allow(Action="ec2:*"), {}, "ImplicitDeny"),
    # Action names are case-insensitive; `*` and `?` are wildcards.
    ("action wildcard", allow(Action="s3:Get*"), {}, "Allow"),
    ("action case", allow(Action="S3:getobject"), {}, "Allow"),
    ("action ?", allow(Action="s3:GetObjec?"), {}, "Allow"),
    ("NotAction", allow(Action=None, NotAction="s3:Get*"), {}, "ImplicitDeny"),
    # Resource ARNs are case-sensitive.
    ("resource wildcard", allow(Resource="arn:aws:s3:::bucket/*"), {"resource": "arn:aws:s3:::bucket/a/b"}, "Allow"),
    ("resource case", allow(Resource="arn:aws:s3:::Bucket/*"), {"resource": "arn:aws:s3:::bucket/a"}, "ImplicitDeny"),
    # Condition: keys AND, values OR; key names case-insensitive.
    (
        "values OR",
        allow(Condition={"StringEquals": {"aws:RequestTag/env": ["dev", "test"]}}),
        {"aws__RequestTag/env": "test"},
        "Allow",
    ),
    (
        "keys AND",
        allow(Condition={"StringEquals": {"aws:RequestTag/env": "dev", "aws:RequestTag/team": "a"}}),
        {"aws__RequestTag/env": "dev"},
        "ImplicitDeny",
    ),
    (
        "key case",
        allow(Condition={"StringEquals": {"AWS:REQUESTTAG/env": "dev"}}),
        {"aws__requesttag/env": "dev"},
        "Allow",
    ),
    # A missing key: a plain operator is false, a negated one true, ...IfExists true.
    ("missing key", allow(Condition={"StringEquals": {"aws:RequestTag/env": "dev"}}), {}, "ImplicitDeny"),
    ("missing key, negated", allow(Condition={"StringNotLike": {"aws:RequestTag/env": "prod*"}}), {}, "Allow"),
    ("IfExists, missing", allow(Condition={"StringEqualsIfExists": {"ec2:InstanceType": "t2.micro"}}), {}, "Allow"),
    (
        "IfExists, present",
        allow(Condition={"StringEqualsIfExists": {"ec2:InstanceType": "t2.micro"}}),
        {"ec2__InstanceType": "m5.large"},
        "ImplicitDeny",
    ),
    # Multivalued keys: ForAllValues (every value matches; vacuously true), ForAnyValue (one).
    ("ForAllValues all", allow(Condition=TAG_KEYS_CREATED), {"aws__TagKeys": ["CreatedBy", "CreatedAt"]}, "Allow"),
    (
        "ForAllValues one off",
        allow(Condition=TAG_KEYS_CREATED),
        {"aws__TagKeys": ["CreatedBy", "Owner"]},
        "ImplicitDeny",
    ),
    ("ForAllValues missing", allow(Condition=TAG_KEYS_CREATED), {}, "Allow"),
    ("ForAllValues empty", allow(Condition=TAG_KEYS_CREATED), {"aws__TagKeys": []}, "Allow"),
    (
        "ForAnyValue one",
        allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "dept"}}),
        {"aws__TagKeys": ["dept", "x"]},
        "Allow",
    ),
    ("ForAnyValue missing", allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "dept"}}), {}, "ImplicitDeny"),
    # Null: true when the key is absent.
    ("Null absent", allow(Condition={"Null": {"aws:TokenIssueTime": "true"}}), {}, "Allow"),
    (
        "Null present",
        allow(Condition={"Null": {"aws:TokenIssueTime": "true"}}),
        {"aws__TokenIssueTime": "t"},
        "ImplicitDeny",
    ),
    ("Null false", allow(Condition={"Null": {"aws:TokenIssueTime": "false"}}), {"aws__TokenIssueTime": "t"}, "Allow"),
    # ARN operators compare each of the six parts; Bool; Numeric.
    (
        "ArnLike",
        allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}),
        {"aws__SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"},
        "Allow",
    ),
    (
        "ArnEquals other account",
        allow(Condition={"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}),
        {"aws__SourceArn": "arn:aws:sns:us-east-1:999999999999:topic"},
        "ImplicitDeny",
    ),
    (
        "deny unless TLS",
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"aws__SecureTransport": "false"},
        "Deny",
    ),
    (
        "Numeric",
        allow(Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}),
        {"s3__max-keys": "11"},
        "ImplicitDeny",
    ),
]


@pytest.mark.parametrize(("statement", "context", "expected"), [case[1:] for case in DOCS], ids=[c[0] for c in DOCS])
def test_the_evaluator_decides_as_the_iam_user_guide_says(
    statement: dict[str, Any], context: dict[str, Any], expected: str
) -> None:
    statement = {k: v for k, v in statement.items() if v is not None}
    resource = context.pop("resource", "*")
    assert decide(statement, resource=resource, **context) == expected


def test_what_it_cannot_read_it_refuses_loudly() -> None:
    with pytest.raises(PolicyError, match="DateGreaterThan"):
        decide(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}), aws__CurrentTime="x")


# The template's role policies -------------------------------------------------------------

STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/user-provider/9e8d7c6b"
OTHER_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/other-provider/1"
USER = "arn:aws:elasticache:us-east-1:123456789012:user:"
GROUP = "arn:aws:elasticache:us-east-1:123456789012:usergroup:"
PROVIDER_TAG = "elasticache-user-resource:provider"
SECRET_TAG = "elasticache-user-resource:password-secret"
CONSENT_TAG = "elasticache-user-resource:members-from"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OURS = {f"aws:ResourceTag/{PROVIDER_TAG}": STACK}
THEIRS = {f"aws:ResourceTag/{PROVIDER_TAG}": OTHER_STACK}
NEW_TAGS = {f"aws:RequestTag/{PROVIDER_TAG}": STACK, "aws:TagKeys": [PROVIDER_TAG, "team"]}
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:user-provider-elasticache-user"
VIA_SECRETS = {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}

# (function, action, resource, context, parameters) -> the Sid that allows it (None: refused).
TEMPLATE: list[tuple[str, str, str, Context, dict[str, Any], str | None]] = [
    ("provider", "elasticache:CreateUser", USER + "u", NEW_TAGS, {}, "CreateOwnedUsers"),
    ("provider", "elasticache:CreateUser", USER + "u", {}, {}, None),
    ("provider", "elasticache:CreateUser", USER + "u", {f"aws:RequestTag/{PROVIDER_TAG}": OTHER_STACK}, {}, None),
    ("provider", "elasticache:CreateUser", USER + "orders-u", NEW_TAGS, {"UserIdPrefix": "app-"}, None),
    ("provider", "elasticache:AddTagsToResource", USER + "u", NEW_TAGS, {}, "TagNewUsers"),
    ("provider", "elasticache:AddTagsToResource", USER + "u", {**NEW_TAGS, **THEIRS}, {}, None),
    ("provider", "elasticache:ModifyUser", USER + "u", OURS, {}, "ChangeOwnedUsers"),
    ("provider", "elasticache:DeleteUser", USER + "u", THEIRS, {}, None),
    ("provider", "elasticache:DeleteUser", USER + "u", {}, {}, None),
    ("provider", "elasticache:AddTagsToResource", USER + "u", {**OURS, "aws:TagKeys": ["team"]}, {}, "TagOwnedUsers"),
    ("provider", "elasticache:RemoveTagsFromResource", USER + "u", {**OURS, "aws:TagKeys": [PROVIDER_TAG]}, {}, None),
    (
        "provider",
        "elasticache:RemoveTagsFromResource",
        USER + "u",
        {**OURS, "aws:TagKeys": [SECRET_TAG]},
        {},
        "BindPasswordSecret",
    ),
    (
        "provider",
        "elasticache:RemoveTagsFromResource",
        USER + "u",
        {**OURS, "aws:TagKeys": ["team", SECRET_TAG]},
        {},
        None,
    ),
    (
        "provider",
        "elasticache:DescribeUserGroups",
        GROUP + "app-g",
        {},
        {"UserGroupIdPrefix": "app-"},
        "ReadUserGroups",
    ),
    ("provider", "elasticache:DescribeUserGroups", GROUP + "g", {}, {"UserGroupIdPrefix": "app-"}, None),
    ("provider", "elasticache:ModifyUserGroup", GROUP + "g", {}, {}, "ChangeGroupsUnderThePrefix"),
    ("provider", "elasticache:ModifyUserGroup", USER + "u", OURS, {}, "ChangeGroupsOnlyForOwnedUsers"),
    ("provider", "elasticache:ModifyUserGroup", USER + "u", THEIRS, {}, None),
    # A group owner's consent (docs/sharing.md): read under the prefix, never written.
    ("provider", "elasticache:ListTagsForResource", GROUP + "g", {}, {}, "ReadGroupConsent"),
    ("provider", "elasticache:ListTagsForResource", GROUP + "orders-g", {}, {"UserGroupIdPrefix": "app-"}, None),
    ("provider", "elasticache:AddTagsToResource", GROUP + "g", {"aws:TagKeys": [CONSENT_TAG]}, {}, None),
    ("provider", "elasticache:RemoveTagsFromResource", GROUP + "g", {"aws:TagKeys": [CONSENT_TAG]}, {}, None),
    ("drift", "elasticache:ListTagsForResource", GROUP + "g", {}, {}, "ReadGroupConsent"),
    ("drift", "elasticache:AddTagsToResource", GROUP + "g", {"aws:TagKeys": [CONSENT_TAG]}, {}, None),
    (
        "provider",
        "events:PutTargets",
        "arn:aws:events:us-east-1:123456789012:rule/ecuser-poll-r",
        {"events:TargetArn": [FUNCTION]},
        {},
        "PollTargetIsThisFunction",
    ),
    (
        "provider",
        "events:PutTargets",
        "arn:aws:events:us-east-1:123456789012:rule/ecuser-poll-r",
        {"events:TargetArn": [FUNCTION + "-x"]},
        {},
        None,
    ),
    # Rules outside the poll prefix are another's (issue: EventBridge narrowed).
    ("provider", "events:PutRule", "arn:aws:events:us-east-1:123456789012:rule/AppUser-r", {}, {}, None),
    ("notifier", "events:DeleteRule", "arn:aws:events:us-east-1:123456789012:rule/AppUser-r", {}, {}, None),
    (
        "provider",
        "lambda:AddPermission",
        FUNCTION,
        {"lambda:Principal": "events.amazonaws.com"},
        {},
        "PollMayInvokeThisFunction",
    ),
    ("provider", "lambda:AddPermission", FUNCTION, {"lambda:Principal": "s3.amazonaws.com"}, {}, None),
    ("provider", "kms:Decrypt", KEY, VIA_SECRETS, {"KmsKeyArns": [KEY]}, "DecryptPasswordSecrets"),
    ("provider", "kms:Decrypt", KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com"}, {"KmsKeyArns": [KEY]}, None),
    ("provider", "kms:Decrypt", KEY, VIA_SECRETS, {}, None),
    (
        "provider",
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:other/s",
        {},
        {},
        None,
    ),
    ("notifier", "elasticache:DescribeUsers", USER + "u", {}, {}, "ReadUsers"),
    ("notifier", "elasticache:DeleteUser", USER + "u", OURS, {}, None),
    ("notifier", "lambda:RemovePermission", FUNCTION, {}, {}, "RemoveLeftPollPermission"),
    ("notifier", "lambda:RemovePermission", FUNCTION + "-rotation", {}, {}, None),
    ("rotation", "elasticache:ModifyUser", USER + "u", OURS, {}, "ModifyOwnedUsers"),
    ("rotation", "elasticache:ModifyUser", USER + "u", THEIRS, {}, None),
    ("rotation", "elasticache:AddTagsToResource", USER + "u", {**OURS, "aws:TagKeys": [SECRET_TAG]}, {}, None),
    ("rotation", "secretsmanager:GetRandomPassword", "*", {}, {}, "GeneratePasswords"),
    ("rotation", "kms:GenerateDataKey", KEY, VIA_SECRETS, {"KmsKeyArns": [KEY]}, "EncryptAndDecryptSecrets"),
]


@pytest.mark.parametrize(("function", "action", "resource", "context", "parameters", "sid"), TEMPLATE)
def test_the_template_allows_exactly_its_functions_calls(
    function: str, action: str, resource: str, context: Context, parameters: dict[str, Any], sid: str | None
) -> None:
    values = {"AWS::StackId": STACK, "UserIdPrefix": "", "UserGroupIdPrefix": "", "KmsKeyArns": (), **parameters}
    values["KmsKeyArns"] = tuple(values["KmsKeyArns"])
    statements = iam_gate.role_policy(iam_gate.ROLES[function], tuple(sorted(values.items())))
    decision = evaluate(statements, action, resource, context)
    assert (decision.sid if decision.allowed else None) == sid


# docs/permissions.md and its check (lint/permissions.py) ---------------------------------


def full_record(folder: Path, drop: int | None = None, refused: tuple[str, str] | None = None) -> Path:
    """A gate record in which every statement of the template is used (less entry `drop`,
    plus a `refused` call)."""
    template = load_template(permissions.ROOT / "template.yaml")
    entries = [
        {"function": function, "action": action, "sid": sid, "count": 1}
        for (function, sid), statement in permissions.statements(template).items()
        if (function, sid) not in permissions.PLATFORM
        for action in statement["Action"]
    ]
    if drop is not None:
        del entries[drop]
    if refused:
        entries.append({"function": refused[0], "action": refused[1], "sid": "REFUSED", "count": 1})
    folder.mkdir()
    (folder / "run-1.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    return folder


def test_the_permissions_check_fails_on_an_unused_statement_or_a_call_without_one(tmp_path: Path) -> None:
    template = load_template(permissions.ROOT / "template.yaml")

    def found(record: Path) -> list[str]:
        everything = permissions.problems(template, permissions.read_record(record))
        return [p for p in everything if "not what the record gives" not in p]  # the document's own check

    assert found(full_record(tmp_path / "complete")) == []
    assert any("which no call of the suite used" in p for p in found(full_record(tmp_path / "unused", drop=0)))
    refused = full_record(tmp_path / "refused", refused=("provider", "iam:PassRole"))
    assert found(refused) == ["provider called iam:PassRole, which no statement of its role allows"]
    assert permissions.problems(template, None) == []  # a clean clone: the document alone

    # The document quotes a run of the differential test (its counts move from run to run) and
    # every listed class with its rule, which must be the listing's.
    figures = {**permissions.NO_FIGURES, "total": 5142, "by_class": {"null-on-an-empty-list": 3}}
    rendered = permissions.render(template, {}, figures)
    assert "Its last run: 5,142 cases" in rendered and "| null-on-an-empty-list | 3 |" in rendered
    another_run = permissions.render(template, {}, {**figures, "total": 5150, "by_class": {}})
    assert permissions._figureless(rendered) == permissions._figureless(another_run)
    listed = iam_differential.listed()
    changed = rendered.replace(listed["null-on-an-empty-list"]["rule"], "Null is whatever we like.")
    assert permissions._figureless(changed) != permissions._figureless(rendered)


# Multivalued keys, wildcards and policy variables -------------------------------

POLL_RULE = "arn:aws:events:us-east-1:123456789012:rule/ecuser-poll-r"
FOREIGN = "arn:aws:sqs:us-east-1:123456789012:elsewhere"


def test_a_plain_operator_on_a_multivalued_key_is_refused_by_the_evaluator_and_by_the_lint(tmp_path: Path) -> None:
    plain: dict[str, Any] = {"Sid": "Poll", "Effect": "Allow", "Action": "events:PutTargets", "Resource": "*"}
    plain["Condition"] = {"ArnEquals": {"events:TargetArn": FUNCTION}}
    with pytest.raises(PolicyError, match="ArnEquals on events:TargetArn, a multivalued key"):
        compile_policy([plain])
    for key in ("aws:TagKeys", "events:source", "events:detail-type"):
        with pytest.raises(PolicyError, match="multivalued"):
            compile_policy([allow(Condition={"StringLikeIfExists": {key: "x*"}})])
    # Set operators and Null on the same keys are read.
    compile_policy(
        [allow(Condition={"ForAnyValue:StringLike": {"aws:TagKeys": "x*"}, "Null": {"aws:TagKeys": "false"}})]
    )
    # make lint: the template's policies and a synthesized (JSON) template alike.
    template = (permissions.ROOT / "template.yaml").read_text()
    marked = 'ForAllValues:ArnEquals:\n                    "events:TargetArn"'
    assert marked in template
    (tmp_path / "template.yaml").write_text(
        template.replace(marked, 'ArnEquals:\n                    "events:TargetArn"')
    )
    synthesized = tmp_path / "Stack.template.json"
    role = {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": {"Statement": [plain]}}]}}
    synthesized.write_text(json.dumps({"Resources": {"Role": role}}))
    assert iam_policies.refused_conditions(load_template(tmp_path / "template.yaml")) == [
        "ElastiCacheUserRole / PollTargetIsThisFunction: ArnEquals on events:TargetArn, a multivalued key: it needs "
        "ForAllValues: or ForAnyValue: (IAM User Guide: multivalued context keys require a condition set operator)"
    ]
    assert iam_policies.main([str(permissions.ROOT / "template.yaml"), "--synthesized", str(synthesized)]) == 1
    assert iam_policies.main([str(tmp_path / "template.yaml")]) == 1
    assert iam_policies.refused_conditions(load_template(permissions.ROOT / "template.yaml")) == []


def test_the_hand_over_may_put_its_own_function_alone_as_the_poll_target(hand_over: FakeHandOver) -> None:
    """Through the gate, as the provider's calls reach EventBridge: the function alone is
    allowed; beside a foreign target, or a foreign target alone, refused (PollTargetIsThisFunction
    with ForAllValues:ArnEquals and Null false)."""
    events = boto3.client("events", region_name="us-east-1")
    iam_gate.operator_client("events", region_name="us-east-1").put_rule(
        Name="ecuser-poll-r", ScheduleExpression="rate(1 minute)"
    )
    own = {"Id": "poll", "Arn": iam_gate.function_arn("provider")}
    events.put_targets(Rule="ecuser-poll-r", Targets=[own])
    for targets in ([own, {"Id": "spy", "Arn": FOREIGN}], [{"Id": "spy", "Arn": FOREIGN}]):
        with pytest.raises(ClientError) as refused:
            events.put_targets(Rule="ecuser-poll-r", Targets=targets)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "events:PutTargets on resource: " + POLL_RULE in refused.value.response["Error"]["Message"]
    assert hand_over.leftovers()["rules"] == {"ecuser-poll-r": ["poll"]}


def test_drift_events_carry_only_our_source() -> None:
    statements = iam_gate.role_policy("DriftRole", iam_gate.current_parameters())
    bus = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    ours = {"events:source": ["elasticache-user-resource"], "events:detail-type": ["Drift"]}
    assert evaluate(statements, "events:PutEvents", bus, ours).sid == "PublishDriftEvents"
    for source in (["aws.elasticache"], ["elasticache-user-resource", "aws.elasticache"], [], None):
        context = {} if source is None else {"events:source": source}
        assert not evaluate(statements, "events:PutEvents", bus, context).allowed


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        # "Resource" page: a `*` ending a segment may reach past a colon; one inside may not.
        (
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:log-stream:s",
            True,
        ),
        (
            "arn:aws:events:us-east-1:123456789012:rule/ecuser-*",
            "arn:aws:events:us-east-1:123456789012:rule/ecuser-a",
            True,
        ),
        ("arn:aws:events:*:123456789012:rule/r", "arn:aws:events:us-east-1:123456789012:rule/r", True),
        ("arn:aws:events:us-*1:123456789012:rule/r", "arn:aws:events:us-east-1:123456789012:rule/r", True),
        ("arn:aws:events:us-*1:123456789012:rule/r", "arn:aws:events:us-east:1:123456789012:rule/r", False),
        (
            "arn:aws:elasticache:us-east-1:123456789012:user:a*z",
            "arn:aws:elasticache:us-east-1:123456789012:user:a:z",
            False,
        ),
        (
            "arn:aws:elasticache:us-east-1:123456789012:user:a?z",
            "arn:aws:elasticache:us-east-1:123456789012:user:a:z",
            False,
        ),
        (
            "arn:aws:elasticache:us-east-1:123456789012:user:a*",
            "arn:aws:elasticache:us-east-1:123456789012:user:a:z",
            True,
        ),
    ],
)
def test_a_wildcard_inside_an_arn_segment_stays_inside_it(pattern: str, resource: str, expected: bool) -> None:
    assert decide(allow(Resource=pattern), resource=resource) == ("Allow" if expected else "ImplicitDeny")


def test_a_wildcard_in_an_actions_service_prefix_is_refused() -> None:
    for action in ("e*:PutTargets", "event?:PutTargets", "*:PutTargets", "PutTargets"):
        with pytest.raises(PolicyError, match="service prefix"):
            compile_policy([allow(Action=action)])
    assert decide(allow(Action="*")) == "Allow"


def test_policy_variables_take_the_requests_values_and_unknown_ones_are_refused() -> None:
    own = allow(Resource="arn:aws:iam::123456789012:user/${aws:username}")
    assert decide(own, resource="arn:aws:iam::123456789012:user/ann", aws__username="ann") == "Allow"
    assert decide(own, resource="arn:aws:iam::123456789012:user/bob", aws__username="ann") == "ImplicitDeny"
    # No value: the resource holding it matches nothing, unless a default is given.
    assert decide(own, resource="arn:aws:iam::123456789012:user/${aws:username}") == "ImplicitDeny"
    fallback = allow(Resource="arn:aws:iam::123456789012:user/${aws:username, 'guest'}")
    assert decide(fallback, resource="arn:aws:iam::123456789012:user/guest") == "Allow"
    team = allow(Condition={"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}})
    assert decide(team, **{"aws__ResourceTag/team": "a", "aws__PrincipalTag/team": "a"}) == "Allow"
    assert decide(team, **{"aws__ResourceTag/team": "a", "aws__PrincipalTag/team": "b"}) == "ImplicitDeny"
    assert decide(team, **{"aws__ResourceTag/team": "a"}) == "ImplicitDeny"
    literal = allow(Condition={"StringLike": {"aws:RequestTag/k": "a${*}"}})
    assert decide(literal, **{"aws__RequestTag/k": "a*"}) == "Allow"
    assert decide(literal, **{"aws__RequestTag/k": "ab"}) == "ImplicitDeny"
    for unknown in ("${aws:TagKeys}", "${aws:CurrentTime}", "${s3:prefix}"):
        with pytest.raises(PolicyError, match="policy variable"):
            compile_policy([allow(Resource="arn:aws:s3:::b/" + unknown)])
