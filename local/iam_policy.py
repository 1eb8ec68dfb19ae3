"""A small, pure IAM policy evaluator: identity-policy statements, one action, one resource ARN
and a request context in; Allow, explicit Deny or implicit deny out, with the Sid that decided.

Semantics as the IAM User Guide's "Policy evaluation logic" and "Condition operators" pages
say (sources in docs/aws-behaviour.md, "IAM policy evaluation"):
- an explicit Deny in any statement wins; else any Allow; else the implicit deny;
- Action and Resource: `*` and `?` wildcards; action names match without regard to case,
  resources with it; NotAction / NotResource invert. A wildcard in an action's service prefix
  is refused ("Action" page: the prefix is a service namespace); in a Resource, a `*` or `?`
  stays within its colon-separated segment unless the `*` ends the segment ("Resource" page:
  "If the * wildcard is the last character of a resource ARN segment, it can expand to match
  beyond the colon boundaries");
- policy variables (`${aws:username}`, `${aws:PrincipalTag/k}`... in Resource and in string
  and ARN condition values) take the request's single value, or the `, 'default'` given;
  without either the value holding it matches nothing, so a negated operator holds ("Variables
  and tags" page, "Policy variables with no value"). A variable naming a key outside VARIABLES,
  or a multivalued one, or one before an ARN's resource part ("only in the resource portion of
  the ARN") is refused;
- a Resource that is neither `*` nor an ARN of six colon-separated parts, an ARN condition
  value of fewer than six parts, a numeric condition value that is no number: refused (the
  Guide gives them no meaning);
- a Condition block is the AND of its operators, each operator the AND of its keys, each key
  the OR of its values; condition key names without regard to case;
- a key missing from the request: a plain operator is false, its negated form (StringNotLike,
  ArnNotEquals...) true; `...IfExists` is true; `Null: true` is true;
- multivalued keys (MULTIVALUED): `ForAllValues:` is true when every request value matches
  some policy value, so also when the key is missing or empty; `ForAnyValue:` needs one
  value that matches, so it is false then. A plain operator on a multivalued key is refused,
  as an unknown operator is ("Multivalued context keys require a condition set operator":
  IAM User Guide, "Single-valued vs. multivalued context keys").

Nothing here knows the template, a service or a stand-in: `local/iam_gate.py` resolves the
functions' role policies and is the one hook every stand-in calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from local.iam_patterns import MULTIVALUED as MULTIVALUED
from local.iam_patterns import ContextValue as ContextValue
from local.iam_patterns import PolicyError as PolicyError
from local.iam_patterns import check_variables, matches, substituted

Effect = Literal["Allow", "Deny", "ImplicitDeny"]
Context = Mapping[str, ContextValue]


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six colon-separated parts each match, wildcards within a part (the
    resource part keeps its own colons)."""
    ours, theirs = pattern.split(":", 5), value.split(":", 5)
    return len(ours) == len(theirs) == 6 and all(matches(p, v) for p, v in zip(ours, theirs, strict=True))


def _bool(policy: str, value: str) -> bool:
    return policy.lower() == value.lower()


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(policy: str, value: str) -> bool:
        try:
            return compare(float(value), float(policy))
        except ValueError:
            return False

    return test


# Operator -> (test of one policy value against one request value, negated?). A negated
# operator is true when no policy value matches.
OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (lambda p, v: matches(p, v), False),
    "StringNotLike": (lambda p, v: matches(p, v), True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda v, p: v == p), False),
    "NumericNotEquals": (_numeric(lambda v, p: v == p), True),
    "NumericLessThan": (_numeric(lambda v, p: v < p), False),
    "NumericLessThanEquals": (_numeric(lambda v, p: v <= p), False),
    "NumericGreaterThan": (_numeric(lambda v, p: v > p), False),
    "NumericGreaterThanEquals": (_numeric(lambda v, p: v >= p), False),
}


@dataclass(frozen=True)
class Condition:
    """One key under one operator, e.g. `ForAllValues:StringNotLike aws:TagKeys [...]`."""

    operator: str
    key: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        qualifier, name = self._parts()
        if name != "Null" and name not in OPERATORS:
            raise PolicyError(f"condition operator {self.operator} is not modelled")
        if qualifier not in ("", "ForAllValues", "ForAnyValue"):
            raise PolicyError(f"set operator {qualifier} is not one of ForAllValues, ForAnyValue")
        if name != "Null" and not qualifier and self.key.lower() in MULTIVALUED:
            raise PolicyError(
                f"{self.operator} on {self.key}, a multivalued key: it needs ForAllValues: or ForAnyValue: "
                "(IAM User Guide: multivalued context keys require a condition set operator)"
            )
        if name.startswith(("String", "Arn")):
            for value in self.values:
                check_variables(value)
        if name.startswith("Arn") and any(len(value.split(":")) < 6 for value in self.values):
            raise PolicyError(f"{self.operator} on {self.key}: {list(self.values)} are not all ARNs of six parts")
        if name.startswith("Numeric") and not all(_number(value) for value in self.values):
            raise PolicyError(f"{self.operator} on {self.key}: {list(self.values)} are not all numbers")

    def _parts(self) -> tuple[str, str]:
        qualifier, _, name = self.operator.rpartition(":")
        return qualifier, name.removesuffix("IfExists") if name != "IfExists" else name

    def holds(self, context: Mapping[str, ContextValue]) -> bool:
        qualifier, name = self._parts()
        if_exists = self.operator.endswith("IfExists")
        found = context.get(self.key.lower())
        present = [found] if isinstance(found, str) else list(found) if found is not None else None
        if name == "Null":
            absent = present is None or present == []
            return any(_bool(value, "true") == absent for value in self.values)
        test, negated = OPERATORS[name]
        if name.startswith("Numeric") and not all(_number(value) for value in present or []):
            return False  # a request value that is no number compares with nothing, negated or not
        # A value whose variable has no value matches nothing: "Inverted condition operators
        # like StringNotEquals or StringNotLike do match against a null value" ("Variables and tags").
        wildcards = name.startswith("Arn") or name in ("StringLike", "StringNotLike")
        resolved = (substituted(p, context, specials=not wildcards) for p in self.values)
        policies = [v for v in resolved if v is not None]

        def one(value: str) -> bool:
            hit = any(test(policy, value) for policy in policies)
            return not hit if negated else hit

        if qualifier == "ForAllValues":
            return all(one(value) for value in present or [])
        if qualifier == "ForAnyValue":
            return any(one(value) for value in present or [])
        if present is None:
            return if_exists or negated
        return any(one(value) for value in present)


def _listed(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


@dataclass(frozen=True)
class Statement:
    """One statement, compiled once (policies are resolved and compiled per role, then cached)."""

    sid: str
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    not_action: bool = False
    not_resource: bool = False

    @classmethod
    def parse(cls, raw: Mapping[str, Any], index: int = 0) -> Statement:
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"statement {raw.get('Sid', index)}: Effect {effect!r}")
        conditions = tuple(
            Condition(operator, key, _listed(values))
            for operator, keys in (raw.get("Condition") or {}).items()
            for key, values in keys.items()
        )
        actions = _listed(raw.get("Action", raw.get("NotAction")))
        for action in actions:
            prefix, colon, _ = action.partition(":")
            if action != "*" and (not colon or "*" in prefix or "?" in prefix):
                raise PolicyError(f"action {action}: the service prefix must be a service's namespace, no wildcard")
        resources = _listed(raw.get("Resource", raw.get("NotResource")))
        for resource in resources:
            parts = resource.split(":", 5)
            if resource != "*" and len(parts) < 6:
                raise PolicyError(f"resource {resource}: not `*` nor an ARN of six colon-separated parts")
            if "${" in ":".join(parts[:5]):
                raise PolicyError(f"resource {resource}: a policy variable before the ARN's resource part")
            check_variables(resource)
        return cls(
            sid=str(raw.get("Sid", f"#{index}")),
            effect=effect,
            actions=actions,
            resources=resources,
            conditions=conditions,
            not_action="NotAction" in raw,
            not_resource="NotResource" in raw,
        )

    def applies(self, action: str, resource: str, context: Mapping[str, ContextValue]) -> bool:
        if any(matches(a, action, ignore_case=True) for a in self.actions) == self.not_action:
            return False
        if any(matches(r, resource, context=context, segments=True) for r in self.resources) == self.not_resource:
            return False
        return all(condition.holds(context) for condition in self.conditions)


@dataclass(frozen=True)
class Decision:
    effect: Effect
    sid: str | None = None
    conditions: tuple[Condition, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.effect == "Allow"


def compile_policy(statements: Sequence[Mapping[str, Any]]) -> tuple[Statement, ...]:
    return tuple(Statement.parse(raw, index) for index, raw in enumerate(statements))


def evaluate(statements: Sequence[Statement], action: str, resource: str, context: Context | None = None) -> Decision:
    """The identity-policy decision for one action on one resource (keys of `context` in any case)."""
    folded = {key.lower(): value for key, value in (context or {}).items()}
    allow: Statement | None = None
    for statement in statements:
        if statement.applies(action, resource, folded):
            if statement.effect == "Deny":
                return Decision("Deny", statement.sid, statement.conditions)
            allow = allow or statement
    if allow is not None:
        return Decision("Allow", allow.sid, allow.conditions)
    return Decision("ImplicitDeny")
