"""The provider: deployed from this repository's template.yaml, or imported.

`ElastiCacheUserProvider(...)` includes template.yaml itself (CfnInclude, with its parameters
set from the construct's arguments, the SAM transform, and each function's CodeUri pointed at
a CDK asset of src/handler), so the functions, roles and IAM statements deployed by the CDK
are the template's, not a second description that could drift from it: a change to
template.yaml (a new function, an IAM statement) reaches CDK apps with no change here.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Fn, Stack, Token
from aws_cdk import aws_sam as sam
from aws_cdk import cloudformation_include as cfn_include
from constructs import Construct

from cdk_elasticache_user._bundling import code_asset
from cdk_elasticache_user._sources import template

USER_TYPE = "Custom::ElastiCacheUser"
SAM_FUNCTION = "AWS::Serverless::Function"
PROVIDER_FUNCTION, ROTATION_FUNCTION = "ElastiCacheUserFunction", "RotationFunction"
PROVIDER_ROLE, ROTATION_ROLE = "ElastiCacheUserRole", "RotationRole"


class ElastiCacheUserProviderBase(Construct):
    """What an ElastiCacheUser needs of its provider. The prefixes and `allow_adoption` are
    None when the provider was imported and its stack's parameters are not known here."""

    service_token: str
    rotation_function_arn: str | None = None
    password_secrets_prefix: str | None = None
    user_id_prefix: str | None = None
    user_group_id_prefix: str | None = None
    allow_adoption: bool | None = None
    # The roles' names, when this library deployed the provider and so may grant to them.
    provider_role_name: str | None = None
    rotation_role_name: str | None = None


class _ImportedProvider(ElastiCacheUserProviderBase):
    def __init__(
        self,
        scope: Construct,
        id: str,  # noqa: A002 - the CDK's own name for it
        service_token: str,
        rotation_function_arn: str | None,
        password_secrets_prefix: str | None,
    ) -> None:
        super().__init__(scope, id)
        self.service_token = service_token
        self.rotation_function_arn = rotation_function_arn
        self.password_secrets_prefix = password_secrets_prefix


def _included_template() -> dict[str, Any]:
    """template.yaml as a CDK app includes it: without what belongs to a SAM deploy of its own,
    the Serverless Application Repository listing and the stack description (the app's stack
    has its own), and without its example Custom::ElastiCacheUser (users belong to the
    application's stacks), the outputs and conditions only that used, and parameters then unused."""
    included = copy.deepcopy(template())
    included.pop("Description", None)
    included.get("Metadata", {}).pop("AWS::ServerlessRepo::Application", None)
    resources, outputs = included["Resources"], included.get("Outputs", {})
    examples = {name for name, resource in resources.items() if resource["Type"] == USER_TYPE}
    conditions = {resources[name].get("Condition") for name in examples} - {None}
    for name in examples:
        del resources[name]
    for name in [name for name, output in outputs.items() if _mentions(output, examples)]:
        del outputs[name]
    for name in [name for name in conditions if not _mentions({**included, "Conditions": None}, {name})]:
        del included["Conditions"][name]
    for name in [name for name in included["Parameters"] if not _mentions({**included, "Parameters": None}, {name})]:
        del included["Parameters"][name]
    return included


def _settled(included: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """`included` with each condition that the construct's literal parameters decide taken out:
    the resources and outputs under a false one dropped, `Fn::If` on it replaced by its branch.
    Left in, such a condition is a constant comparison that cfn-lint flags (W8003) in every
    app's template. A condition that reads a token or a pseudo parameter stays."""
    known: dict[str, bool] = {}

    def value_of(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            [(name, argument)] = node.items()
            if name == "Ref" and argument in values and not Token.is_unresolved(values[argument]):
                return values[argument]
            if name == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
                parts = value_of(argument[1])
                if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                    return str(argument[0]).join(parts)
            if name == "Condition":
                return known.get(str(argument), _UNKNOWN)
            if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or") and isinstance(argument, list):
                operands = [value_of(a) for a in argument]
                if _UNKNOWN in operands or any(isinstance(o, dict) for o in operands):
                    return _UNKNOWN
                if name == "Fn::Equals":
                    return operands[0] == operands[1]
                return not operands[0] if name == "Fn::Not" else all(operands) if name == "Fn::And" else any(operands)
            return _UNKNOWN
        return node if isinstance(node, (str, list)) else _UNKNOWN

    for name, condition in included.get("Conditions", {}).items():
        decided = value_of(condition)
        if isinstance(decided, bool):
            known[name] = decided

    def rewritten(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"} and node["Fn::If"][0] in known:
                name, when_true, when_false = node["Fn::If"]
                return rewritten(when_true if known[name] else when_false)
            return {k: v for k, v in ((k, rewritten(v)) for k, v in node.items()) if v != _NO_VALUE}
        if isinstance(node, list):
            return [item for item in map(rewritten, node) if item != _NO_VALUE]
        return node

    for section in ("Resources", "Outputs"):
        entries = included.get(section, {})
        for name in [n for n, entry in entries.items() if known.get(entry.get("Condition", ""), True) is False]:
            del entries[name]
        for entry in entries.values():
            if entry.get("Condition") in known:
                del entry["Condition"]
    included = rewritten(included)
    for name in known:
        del included["Conditions"][name]
    if not included.get("Conditions"):
        included.pop("Conditions", None)
    return included


_UNKNOWN = object()
_NO_VALUE = {"Ref": "AWS::NoValue"}


def _mentions(value: object, names: set[str]) -> bool:
    """Whether `value` refers to any of `names` (Ref, Fn::GetAtt, Fn::Sub, Condition)."""
    text = json.dumps(value)
    return any(
        token in text for name in names for token in (f'"{name}"', f'"{name}.', "${" + name + "}", "${" + name + ".")
    )


def _check_parameter(name: str, argument: str, value: object) -> None:
    """The template's own AllowedValues / AllowedPattern for a parameter the construct sets."""
    declared = template()["Parameters"][name]
    values = value if isinstance(value, list) else [value]
    for item in values:
        if Token.is_unresolved(item):
            continue
        if "AllowedValues" in declared and item not in declared["AllowedValues"]:
            raise ValueError(f"{argument} must be one of {', '.join(declared['AllowedValues'])} (got {item!r}).")
        if "AllowedPattern" in declared and not re.fullmatch(declared["AllowedPattern"], str(item)):
            raise ValueError(f"{argument} must match {declared['AllowedPattern']} (got {item!r}).")


class ElastiCacheUserProvider(ElastiCacheUserProviderBase):
    """Deploys the provider (its provider, failure notifier and rotation functions with their
    roles and log groups) from template.yaml, in this construct's stack. One per stack: the
    template names its functions after the stack (`<stack>-elasticache-user`), and exports
    `<stack>-ServiceToken` and `<stack>-RotationLambdaArn`, so other stacks and apps can use
    it with `from_export(..., export_prefix=<stack name>)`."""

    def __init__(
        self,
        scope: Construct,
        id: str,  # noqa: A002 - the CDK's own name for it
        *,
        user_id_prefix: str = "",
        user_group_id_prefix: str = "",
        allow_adoption: bool = False,
        password_secrets_prefix: str = "elasticache/",  # noqa: S107 - a name prefix
        kms_key_arns: Sequence[str] = (),
        architecture: str = "arm64",
        log_level: str = "INFO",
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        """`parameters`: any other parameter of template.yaml, by its name; a parameter set by
        neither takes the template's Default, so the app's stack gets no CloudFormation
        parameter, and a parameter added to the template later reaches CDK apps by itself."""
        stack = Stack.of(scope)
        others = [c.node.path for c in stack.node.find_all() if isinstance(c, ElastiCacheUserProvider)]
        if others:
            raise ValueError(
                f"{stack.stack_name} already has an ElastiCacheUserProvider ({others[0]}): the template's resources "
                "keep their logical ids and names, so a stack holds one. Use it, or another stack."
            )
        super().__init__(scope, id)
        declared = template()["Parameters"]
        arguments = dict(
            UserIdPrefix="user_id_prefix",
            UserGroupIdPrefix="user_group_id_prefix",
            AllowAdoption="allow_adoption",
            PasswordSecretsPrefix="password_secrets_prefix",
            KmsKeyArns="kms_key_arns",
            Architecture="architecture",
            LogLevel="log_level",
        )
        values: dict[str, Any] = {name: p["Default"] for name, p in declared.items() if "Default" in p}
        for name, value in (parameters or {}).items():
            if name not in declared or name in arguments:
                raise ValueError(f"parameters: {name!r} is no other parameter of template.yaml (see the arguments).")
            _check_parameter(name, f"parameters[{name!r}]", value)
            values[name] = value
        values.update(
            UserIdPrefix=user_id_prefix,
            UserGroupIdPrefix=user_group_id_prefix,
            AllowAdoption="true" if allow_adoption else "false",
            PasswordSecretsPrefix=password_secrets_prefix,
            KmsKeyArns=list(kms_key_arns),
            Architecture=architecture,
            LogLevel=log_level,
        )
        for name, argument in arguments.items():
            _check_parameter(name, argument, values[name])
        self.user_id_prefix, self.user_group_id_prefix = user_id_prefix, user_group_id_prefix
        self.allow_adoption, self.password_secrets_prefix = allow_adoption, password_secrets_prefix

        included = _settled(_included_template(), values)
        with tempfile.TemporaryDirectory() as folder:  # CfnInclude reads it in its constructor
            path = Path(folder) / "template.json"
            path.write_text(json.dumps(included))
            self.template = cfn_include.CfnInclude(
                self,
                "Template",
                template_file=str(path),
                parameters={name: value for name, value in values.items() if name in included["Parameters"]},
            )
        self.code = code_asset(self, architecture, template()["Resources"][PROVIDER_FUNCTION]["Properties"]["Runtime"])
        for name, resource in template()["Resources"].items():
            if resource["Type"] == SAM_FUNCTION:
                self._point_at_asset(name, resource["Properties"])
        function = self.template.get_resource(PROVIDER_FUNCTION)
        rotation = self.template.get_resource(ROTATION_FUNCTION)
        self.service_token = Token.as_string(function.get_att("Arn"))
        self.rotation_function_arn = Token.as_string(rotation.get_att("Arn"))
        self.provider_role_name = self.template.get_resource(PROVIDER_ROLE).ref
        self.rotation_role_name = self.template.get_resource(ROTATION_ROLE).ref

    def _point_at_asset(self, name: str, properties: dict[str, Any]) -> None:
        function = self.template.get_resource(name)
        assert isinstance(function, sam.CfnFunction)
        function.code_uri = sam.CfnFunction.S3LocationProperty(
            bucket=self.code.s3_bucket_name, key=self.code.s3_object_key
        )
        # The CDK's SAM specification requires EventInvokeConfig.DestinationConfig.OnSuccess,
        # which SAM does not (aws/aws-cdk#16739): the template's own value goes in as written.
        if "EventInvokeConfig" in properties:
            function.event_invoke_config = None
            function.add_property_override("EventInvokeConfig", properties["EventInvokeConfig"])

    @staticmethod
    def from_export(
        scope: Construct,
        id: str,  # noqa: A002 - the CDK's own name for it
        export_prefix: str = "elasticache-user-provider",
        *,
        password_secrets_prefix: str | None = "elasticache/",  # noqa: S107 - a name prefix
    ) -> ElastiCacheUserProviderBase:
        """A provider deployed from template.yaml (SAM, or this construct in another app) whose
        stack is named `export_prefix`: its `<prefix>-ServiceToken` and `<prefix>-RotationLambdaArn`
        exports. `password_secrets_prefix`: that stack's PasswordSecretsPrefix, as far as you
        know it (None: unknown); this library cannot grant an imported provider anything."""
        return _ImportedProvider(
            scope,
            id,
            Fn.import_value(f"{export_prefix}-ServiceToken"),
            Fn.import_value(f"{export_prefix}-RotationLambdaArn"),
            password_secrets_prefix,
        )

    @staticmethod
    def from_service_token(
        scope: Construct,
        id: str,  # noqa: A002 - the CDK's own name for it
        service_token: str,
        rotation_function_arn: str | None = None,
        *,
        password_secrets_prefix: str | None = "elasticache/",  # noqa: S107 - a name prefix
    ) -> ElastiCacheUserProviderBase:
        """A provider known by its function's ARN (and its rotation function's, for rotate())."""
        return _ImportedProvider(scope, id, service_token, rotation_function_arn, password_secrets_prefix)
