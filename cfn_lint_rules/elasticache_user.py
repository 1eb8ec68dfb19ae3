"""cfn-lint rules for Custom::ElastiCacheUser in a template: E9101, every property checked with
the handler's own validation (src/handler/rules/properties.py and access_string.py: one source of
truth, no second copy of the rules); W9102, access strings that work but probably not as
meant, and the engine version they need.

    cfn-lint your-stack.yaml --append-rules cfn_lint_rules     (or: make lint-stack TEMPLATE=...)

A value given by an intrinsic function (Ref, Fn::Sub, Fn::ImportValue, Fn::If, ...) is not
judged: it is replaced by a valid stand-in before the check. Dynamic references
({{resolve:...}}) are reported: CloudFormation does not resolve them in custom resource
properties (use PasswordSecretId / PasswordParameterName).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

_HANDLER = str(Path(__file__).resolve().parent.parent / "src" / "handler")
if _HANDLER not in sys.path:
    sys.path.insert(0, _HANDLER)

from rules.access_string import analyse  # noqa: E402
from rules.properties import parse_properties  # noqa: E402
from rules.property_table import (  # noqa: E402
    AUTHENTICATION_PROPERTIES,
    KNOWN_PROPERTIES,
    PROPERTY,
    SERVICE_TIMEOUT_MAX,
    STAND_IN_PASSWORD,
)
from runtime.exceptions import PropertyError  # noqa: E402

RESOURCE_TYPE = "Custom::ElastiCacheUser"
# A valid value for a property given by an intrinsic function (UserId/UserName: see _stand_in).
STAND_INS = {name: p.stand_in for name, p in PROPERTY.items()}
MAX_FINDINGS = 10
AUTHENTICATION_RULE = "Set exactly one of"


def _intrinsic(value: object) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and str(next(iter(value))).startswith(("Ref", "Fn::"))


def _dynamic_reference(value: object) -> bool:
    if isinstance(value, str):
        return "{{resolve:" in value
    if isinstance(value, Mapping):
        return any(_dynamic_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(_dynamic_reference(v) for v in value)
    return False


def _stand_in(name: str, value: object, properties: Mapping[str, Any], index: int = 0) -> object:
    """`value` with every intrinsic function in it replaced by a valid stand-in."""
    if _intrinsic(value):
        if name in ("UserId", "UserName"):
            other = properties.get("UserName" if name == "UserId" else "UserId")
            return other.lower() if isinstance(other, str) and not _intrinsic(other) else STAND_INS[name]
        if name == "UserGroupIds[]":
            return f"stand-in-group-{index}"
        if name == "Tags[]":
            return f"stand-in-{index}"
        return STAND_INS.get(name.removesuffix("[]"), "stand-in")
    if isinstance(value, list):
        if name == "Passwords":
            return [STAND_IN_PASSWORD if _intrinsic(v) else v for v in value]
        return [_stand_in(f"{name}[]", v, properties, i) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {
            k: _stand_in(f"{name}[]" if name == "Tags[]" else f"{name}.{k}", v, properties, index)
            for k, v in value.items()
        }
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _property_of(message: str, properties: Mapping[str, Any]) -> str | None:
    """The property a PropertyError names (its messages start with it)."""
    for name in sorted(properties, key=len, reverse=True):
        if message.startswith(str(name)):
            return str(name)
    return None


class ElastiCacheUserProperties(CloudFormationLintRule):  # type: ignore[misc]
    """Custom::ElastiCacheUser properties break no rule of the provider."""

    id = "E9101"
    shortdesc = "Custom::ElastiCacheUser properties"
    description = "Checks Custom::ElastiCacheUser properties with the provider's own validation"
    source_url = "docs/template-authors.md#properties"
    tags = ["resources", "elasticache", "custom"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for name, resource in cfn.get_resources([RESOURCE_TYPE]).items():
            properties = resource.get("Properties")
            path = ["Resources", name, "Properties"]
            if not isinstance(properties, Mapping):
                matches.append(RuleMatch(path[:2], f"{RESOURCE_TYPE} {name}: Properties are required."))
                continue
            matches.extend(self._check(name, dict(properties), path))
        return matches

    def _check(self, name: str, properties: dict[str, Any], path: list[str]) -> list[RuleMatch]:
        matches = []
        if "ServiceToken" not in properties:
            matches.append(RuleMatch(path, f"{RESOURCE_TYPE} {name}: ServiceToken is required."))
        for key, value in properties.items():
            if _dynamic_reference(value):
                matches.append(
                    RuleMatch(
                        [*path, key],
                        f"{RESOURCE_TYPE} {name}: {key}: dynamic references ({{{{resolve:...}}}}) are not resolved "
                        "in custom resource properties; use PasswordSecretId or PasswordParameterName.",
                    )
                )
                properties[key] = STAND_INS.get(key, "stand-in")
        timeout = properties.get("ServiceTimeout")
        if timeout is not None and not _intrinsic(timeout):
            try:
                valid = 1 <= float(str(timeout)) <= SERVICE_TIMEOUT_MAX
            except ValueError:
                valid = False
            if not valid:
                matches.append(
                    RuleMatch(
                        [*path, "ServiceTimeout"],
                        f"{RESOURCE_TYPE} {name}: ServiceTimeout must be 1 to {SERVICE_TIMEOUT_MAX} seconds.",
                    )
                )
        checked = {k: _stand_in(k, v, properties) for k, v in properties.items()}
        access = properties.get("AccessString")
        errors = analyse(access).errors if isinstance(access, str) and access.strip() else []
        for finding in errors:  # every broken rule of the string, each on the property's line
            matches.append(RuleMatch([*path, "AccessString"], f"{RESOURCE_TYPE} {name}: {finding.describe()}"))
        if errors:
            checked["AccessString"] = STAND_INS["AccessString"]
        for key in [k for k in checked if k not in KNOWN_PROPERTIES]:
            matches.append(RuleMatch([*path, key], f"{RESOURCE_TYPE} {name}: Unknown property {key}."))
            del checked[key]
        for _ in range(MAX_FINDINGS):
            try:
                parse_properties(checked)
                break
            except PropertyError as error:
                message = str(error)
                failing = _property_of(message, checked)
                matches.append(RuleMatch([*path, failing] if failing else path, f"{RESOURCE_TYPE} {name}: {message}"))
                if failing is None and message.startswith(AUTHENTICATION_RULE):
                    # Keep the first way of authenticating and look for the next finding.
                    given = [k for k in AUTHENTICATION_PROPERTIES if k in checked]
                    for extra in given[1:]:
                        del checked[extra]
                    if not given:
                        checked["Passwords"] = STAND_INS["Passwords"]
                    continue
                if failing is None:
                    break
                # Take the failing property as valid and look for the next finding.
                checked[failing] = STAND_INS.get(failing, "stand-in")
        return matches


class ElastiCacheUserAccessAdvice(CloudFormationLintRule):  # type: ignore[misc]
    """Custom::ElastiCacheUser access strings do what they seem to."""

    id = "W9102"
    shortdesc = "Custom::ElastiCacheUser access string advice"
    description = "Access strings that make an off user, grant dangerous commands, or need a newer engine"
    source_url = "docs/template-authors.md#access-strings"
    tags = ["resources", "elasticache", "custom"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for name, resource in cfn.get_resources([RESOURCE_TYPE]).items():
            properties = resource.get("Properties")
            access = properties.get("AccessString") if isinstance(properties, Mapping) else None
            if not isinstance(access, str) or not access.strip():
                continue
            path = ["Resources", name, "Properties", "AccessString"]
            analysis = analyse(access)
            for finding in analysis.warnings:
                matches.append(RuleMatch(path, f"{RESOURCE_TYPE} {name}: {finding.describe()}"))
            engine = properties.get("Engine")
            if analysis.minimum_engine != "6.0" and isinstance(engine, str) and engine.lower() == "redis":
                matches.append(
                    RuleMatch(
                        path,
                        f"{RESOURCE_TYPE} {name}: AccessString needs Redis OSS {analysis.minimum_engine} or later "
                        "(&channels: 6.2; %R~/%W~ keys, selectors, -command|subcommand: 7.0); a user group of "
                        "older caches refuses it.",
                    )
                )
        return matches
