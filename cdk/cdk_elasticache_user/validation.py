"""Synth-time checks of a Custom::ElastiCacheUser's properties with the provider's own rules.

`properties.parse_properties` (the property table and the access-string checker) and
`request.Scope.refusal` (the provider stack's prefixes and AllowAdoption) are the handler's
own functions, loaded from src/handler (`_sources.handler_rules`): the reason raised here is
the reason the provider would answer. A value the CDK resolves only at deploy time (a token:
`Token.is_unresolved`) is replaced by a valid stand-in from the property table, as lint rule
E9101 does for intrinsic functions, so the literal rest is still checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Token

from cdk_elasticache_user._sources import handler_rules


class ElastiCacheUserPropertyError(ValueError):
    """A property the provider would refuse. `reason` is the provider's own answer."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{reason} (ElastiCacheUser {path})")
        self.path = path
        self.reason = reason


def _stand_in(name: str, value: object, properties: Mapping[str, Any], table: Any, index: int = 0) -> object:
    """`value` with every token in it replaced by a valid stand-in (a list token is a list
    holding one token string, so it gets one stand-in)."""
    if isinstance(value, (list, tuple)):
        return [_stand_in(f"{name}[]", item, properties, table, i) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {key: _stand_in(f"{name}.{key}", item, properties, table, index) for key, item in value.items()}
    if not Token.is_unresolved(value):
        return value
    if name in ("UserId", "UserName"):
        other = properties.get("UserName" if name == "UserId" else "UserId")
        if isinstance(other, str) and not Token.is_unresolved(other) and table.is_user_id(other):
            return other.lower()  # IAM users need UserId == UserName
        return table.PROPERTY[name].stand_in
    if name == "UserGroupIds[]":
        return f"stand-in-group-{index}"
    if name in ("Passwords[]", "AuthenticationMode.Passwords[]"):
        return table.STAND_IN_PASSWORD
    if name.startswith("Tags[]"):
        return f"stand-in-{index}"
    return table.PROPERTY[name.split(".")[0].removesuffix("[]")].stand_in


class _Table:
    """The few names the stand-ins need, from the handler's modules."""

    def __init__(self, modules: Mapping[str, Any]) -> None:
        self.PROPERTY = modules["rules.property_table"].PROPERTY
        self.STAND_IN_PASSWORD = modules["rules.property_table"].STAND_IN_PASSWORD
        self.is_user_id = modules["rules.properties"].is_user_id


def access_advice(access_string: object, engine: object) -> list[str]:
    """What lint rule W9102 says of a literal access string: it works, but probably not as
    meant (an `off` user, dangerous commands), or it needs a newer engine than redis 6.0."""
    if not isinstance(access_string, str) or Token.is_unresolved(access_string) or not access_string.strip():
        return []
    with handler_rules() as modules:
        analysis = modules["rules.access_string"].analyse(access_string)
    advice = [finding.describe() for finding in analysis.warnings]
    if isinstance(engine, str) and engine.lower() == "redis" and analysis.minimum_engine != "6.0":
        advice.append(f"AccessString needs Redis OSS {analysis.minimum_engine} or later (a 6.0 engine refuses it).")
    return advice


def check_properties(
    path: str,
    properties: Mapping[str, Any],
    *,
    user_id_prefix: str | None = None,
    user_group_id_prefix: str | None = None,
    allow_adoption: bool | None = None,
) -> None:
    """Raise ElastiCacheUserPropertyError with the provider's reason for the first broken rule.

    The prefixes and `allow_adoption` are the provider stack's parameters when this library
    deployed it; None when the provider was imported (its parameters are not known here).
    """
    with handler_rules() as modules:
        table = _Table(modules)
        literal = {name: _stand_in(name, value, properties, table) for name, value in properties.items()}
        try:
            parsed = modules["rules.properties"].parse_properties(literal)
        except modules["runtime.exceptions"].PropertyError as error:
            raise ElastiCacheUserPropertyError(path, str(error)) from None
        if user_id_prefix is None or user_group_id_prefix is None or allow_adoption is None:
            return
        user_id = properties.get("UserId")
        scope = modules["runtime.scope"].Scope(
            user_id_prefix=user_id_prefix,
            user_group_id_prefix=user_group_id_prefix,
            allow_adoption=allow_adoption,
        )
        # A token is judged at deploy time: its stand-in here is taken as within the prefix.
        groups = tuple(g.lower() for g in properties.get("UserGroupIds") or () if not Token.is_unresolved(g))
        refusal = scope.refusal(
            user_id_prefix if Token.is_unresolved(user_id) else parsed.spec.user_id, groups, parsed.adopt_existing
        )
        if refusal:
            raise ElastiCacheUserPropertyError(path, refusal)
