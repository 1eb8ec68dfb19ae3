"""ElastiCacheUser: one Custom::ElastiCacheUser, its properties checked at synth with the
provider's own rules, and its secret's rotation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_cdk import Annotations, CustomResource, Duration, Token, aws_iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk_elasticache_user.provider import USER_TYPE, ElastiCacheUserProviderBase
from cdk_elasticache_user.validation import access_advice, check_properties

# Fn::GetAtt attributes (src/handler/rules/property_table.py ATTRIBUTES) as Python attribute names.
ATTRIBUTE_NAMES = {
    "Arn": "user_arn",
    "UserId": "user_id",
    "UserName": "user_name",
    "Status": "status",
    "Engine": "engine",
    "MinimumEngineVersion": "minimum_engine_version",
    "UserGroupIds": "user_group_ids",
    "AuthenticationType": "authentication_type",
    "PasswordCount": "password_count",
}
# Secrets Manager's ScheduleExpression: rate(N days), N from 1 to 1000, or rate(N hours), N >= 4
# (User Guide, "Rotation schedules").
ROTATION_DAYS_MAX, ROTATION_HOURS_MIN = 1000, 4


def _literal_name(secret: secretsmanager.ISecret) -> str | None:
    """The secret's name when it is known at synth (imported by name, or created with one)."""
    if not Token.is_unresolved(secret.secret_name):
        return secret.secret_name
    child = secret.node.default_child
    if isinstance(child, secretsmanager.CfnSecret) and isinstance(child.name, str):
        return None if Token.is_unresolved(child.name) else child.name
    return None


class ElastiCacheUser(Construct):
    """A Custom::ElastiCacheUser. Exactly one of `passwords`, `password_secret`,
    `password_parameter`, `iam` and `no_password` chooses how it authenticates."""

    user_arn: str
    user_id: str
    user_name: str
    status: str
    engine: str
    minimum_engine_version: str
    user_group_ids: str
    authentication_type: str
    password_count: str

    def __init__(
        self,
        scope: Construct,
        id: str,  # noqa: A002 - the CDK's own name for it
        *,
        provider: ElastiCacheUserProviderBase,
        user_id: str,
        engine: str,
        access_string: str,
        user_name: str | None = None,
        passwords: Sequence[str] | None = None,
        password_secret: secretsmanager.ISecret | None = None,
        password_parameter: ssm.IStringParameter | None = None,
        iam: bool = False,
        no_password: bool = False,
        user_group_ids: Sequence[str] = (),
        tags: Mapping[str, str] | None = None,
        adopt_existing_user: bool = False,
        service_timeout: Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.provider = provider
        self.password_secret = password_secret
        self.password_parameter = password_parameter
        properties: dict[str, Any] = {
            "UserId": user_id,
            "UserName": user_name if user_name is not None else user_id,
            "Engine": engine,
            "AccessString": access_string,
        }
        if passwords is not None:
            properties["Passwords"] = list(passwords)
        if password_secret is not None:
            # The full ARN, or the name of a secret imported by name: a partial ARN would match
            # neither the ARN nor the name the rotation function compares the user's tag with.
            properties["PasswordSecretId"] = password_secret.secret_full_arn or password_secret.secret_name
        if password_parameter is not None:
            properties["PasswordParameterName"] = password_parameter.parameter_name
        if iam:
            properties["AuthenticationMode"] = {"Type": "iam"}
        if no_password:
            properties["NoPasswordRequired"] = True
        if tags:
            properties["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
        if user_group_ids:
            properties["UserGroupIds"] = list(user_group_ids)
        if adopt_existing_user:
            properties["AdoptExistingUser"] = True
        check_properties(
            self.node.path,
            properties,
            user_id_prefix=provider.user_id_prefix,
            user_group_id_prefix=provider.user_group_id_prefix,
            allow_adoption=provider.allow_adoption,
        )
        for advice in access_advice(access_string, engine):
            Annotations.of(self).add_warning_v2("cdk-elasticache-user:access-string", advice)
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=USER_TYPE,
            properties=properties,
            service_timeout=service_timeout,
        )
        for attribute, name in ATTRIBUTE_NAMES.items():
            setattr(self, name, self.resource.get_att_string(attribute))
        self._let_provider_read()

    def _let_provider_read(self) -> None:
        """Grants the provider's role read access to the secret or parameter, where its own
        policy (everything under PasswordSecretsPrefix) does not already cover it."""
        prefix = self.provider.password_secrets_prefix
        what, name = "", None
        grant: Callable[[aws_iam.IGrantable], aws_iam.Grant] | None = None
        if self.password_secret is not None:
            secret = self.password_secret
            what, name = "secret", _literal_name(secret)
            # A customer-managed key needs kms:Decrypt besides the prefix (KmsKeyArns).
            covered = prefix is not None and name is not None and name.startswith(prefix)
            if not covered or secret.encryption_key is not None:
                grant = secret.grant_read  # kms:Decrypt on its key too, through Secrets Manager
        elif self.password_parameter is not None:
            parameter = self.password_parameter
            raw = parameter.parameter_name
            what, name = "parameter", None if Token.is_unresolved(raw) else raw.lstrip("/")
            if prefix is None or name is None or not name.startswith(prefix):
                grant = parameter.grant_read
        if grant is None:
            return
        if self.provider.provider_role_name is None:
            Annotations.of(self).add_warning_v2(
                "cdk-elasticache-user:imported-provider-cannot-read",
                f"The provider was imported, so this library cannot grant it read access to the password "
                f"{what} '{name or '(name known at deploy time)'}'. An imported provider reads only names under "
                f"its stack's PasswordSecretsPrefix (declared here: {prefix!r}) with the AWS-managed key: name the "
                f"{what} under that prefix, or grant the provider stack's ElastiCacheUserRole read access "
                "yourself.",
            )
            return
        # The role imported in this construct's scope, so its grant policy lives in the user's
        # stack (no reference from the provider's stack back to this one).
        role = aws_iam.Role.from_role_name(self, "ProviderRole", self.provider.provider_role_name)
        grant(role)
        self.resource.node.add_dependency(role)

    def rotate(self, after: Duration | None = None) -> secretsmanager.CfnRotationSchedule:
        """Rotates the user's password secret with the provider's rotation function every
        `after` (30 days by default), as docs/template-authors.md ("Password rotation") declares it: the schedule
        depends on the user, which must exist before the first rotation."""
        after = after or Duration.days(30)
        if self.password_secret is None:
            raise ValueError(f"{self.node.path}: rotate() needs a user declared with password_secret.")
        if self.provider.rotation_function_arn is None:
            raise ValueError(
                f"{self.node.path}: rotate() needs the provider's rotation function: use from_export, or "
                "from_service_token with rotation_function_arn."
            )
        hours = after.to_hours(integral=False)
        if hours % 24 == 0 and 1 <= hours / 24 <= ROTATION_DAYS_MAX:
            expression = f"rate({int(hours // 24)} days)"
        elif hours == int(hours) and ROTATION_HOURS_MIN <= hours < 24:
            expression = f"rate({int(hours)} hours)"
        else:
            raise ValueError(
                f"{self.node.path}: rotate(after=...) must be whole days (1 to {ROTATION_DAYS_MAX}) or whole "
                f"hours from {ROTATION_HOURS_MIN} to 23 (got {after.to_human_string()})."
            )
        schedule = secretsmanager.CfnRotationSchedule(
            self,
            "Rotation",
            secret_id=self.password_secret.secret_full_arn or self.password_secret.secret_name,
            rotation_lambda_arn=self.provider.rotation_function_arn,
            rotation_rules=secretsmanager.CfnRotationSchedule.RotationRulesProperty(schedule_expression=expression),
        )
        schedule.node.add_dependency(self.resource)
        role = self._let_rotation_write()
        if role is not None:
            schedule.node.add_dependency(role)
        return schedule

    def _let_rotation_write(self) -> aws_iam.IRole | None:
        """The rotation role's own policy covers secrets under PasswordSecretsPrefix; another
        secret gets the four actions the rotation steps call on it (docs/template-authors.md, "Password rotation")."""
        secret, prefix = self.password_secret, self.provider.password_secrets_prefix
        assert secret is not None
        name = _literal_name(secret)
        if prefix is not None and name is not None and name.startswith(prefix) and secret.encryption_key is None:
            return None
        if self.provider.rotation_role_name is None:
            Annotations.of(self).add_warning_v2(
                "cdk-elasticache-user:imported-provider-cannot-rotate",
                f"The provider was imported, so this library cannot let its rotation function change the secret "
                f"'{name or '(name known at deploy time)'}': name it under the provider's PasswordSecretsPrefix "
                f"(declared here: {prefix!r}), or grant the provider stack's RotationRole access yourself.",
            )
            return None
        role = aws_iam.Role.from_role_name(self, "RotationRole", self.provider.rotation_role_name)
        # DescribeSecret, GetSecretValue, PutSecretValue, UpdateSecretVersionStage (and the key's
        # encrypt and decrypt through Secrets Manager, for a customer-managed key).
        secret.grant_read(role)
        secret.grant_write(role)
        return role
