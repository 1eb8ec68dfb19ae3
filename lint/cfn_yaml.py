"""Reading a CloudFormation template, short-form intrinsic functions (!Sub, !If, ...) included,
and resolving the intrinsic functions of its IAM policies to values."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsic functions as their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=CloudFormationLoader)  # noqa: S506
    return loaded


# AWS::NoValue: the key or list item that holds it is left out.
NO_VALUE = object()
GetAtt = Callable[[str, str], Any]


def resolve(node: Any, values: Mapping[str, Any], conditions: Mapping[str, bool], get_att: GetAtt | None = None) -> Any:
    """`node` with Ref, Fn::Sub, Fn::If, Fn::Join, Fn::Equals, Fn::Not, Fn::And, Fn::Or and
    Condition replaced by their values; Fn::GetAtt too, given `get_att` (else left as written)."""
    if isinstance(node, list):
        return [item for item in (resolve(i, values, conditions, get_att) for i in node) if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        [(name, argument)] = node.items()
        if name == "Ref":
            return NO_VALUE if argument == "AWS::NoValue" else values[argument]
        if name == "Fn::Sub":
            text, own = (argument, {}) if isinstance(argument, str) else argument
            scope = {**values, **resolve(own, values, conditions, get_att)}
            return re.sub(r"\$\{([\w:.]+)\}", lambda m: _sub(m, scope, get_att), text)
        if name == "Fn::If":
            condition, then, otherwise = argument
            return resolve(then if conditions[condition] else otherwise, values, conditions, get_att)
        if name == "Fn::Join":
            separator, items = resolve(argument, values, conditions, get_att)
            return separator.join(items)
        if name == "Fn::Equals":
            first, second = resolve(argument, values, conditions, get_att)
            return first == second
        if name == "Fn::Not":
            return not resolve(argument, values, conditions, get_att)[0]
        if name in ("Fn::And", "Fn::Or"):
            results = resolve(argument, values, conditions, get_att)
            return all(results) if name == "Fn::And" else any(results)
        if name == "Condition":
            return conditions[argument]
        if name == "Fn::GetAtt" and get_att is not None:
            return get_att(*(argument.split(".", 1) if isinstance(argument, str) else argument))
    resolved = ((key, resolve(value, values, conditions, get_att)) for key, value in node.items())
    return {key: value for key, value in resolved if value is not NO_VALUE}


def _sub(match: re.Match[str], scope: Mapping[str, Any], get_att: GetAtt | None) -> str:
    name = match.group(1)
    if "." in name and name not in scope:  # ${Resource.Attribute}
        return str(get_att(*name.split(".", 1))) if get_att is not None else match.group(0)
    return str(scope[name])
