"""The docs' example app (docs/template-authors.md, "AWS CDK"): a provider stack and an
application stack with two users.

    cdk/.venv/bin/python cdk/example/app.py      # or: make cdk-synth  (no AWS account needed)

With the CDK CLI: `cdk synth --app "python cdk/example/app.py"`, `cdk deploy --all`.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_elasticache_user import ElastiCacheUser, ElastiCacheUserProvider, ElastiCacheUserProviderBase, members_from


class ProviderStack(cdk.Stack):
    """The provider, deployed from template.yaml: users under `app-`, groups under `app-`."""

    def __init__(self, scope: Construct, id: str) -> None:  # noqa: A002 - the CDK's own name for it
        super().__init__(scope, id)
        self.provider = ElastiCacheUserProvider(self, "Provider", user_id_prefix="app-", user_group_id_prefix="app-")


class PlatformStack(cdk.Stack):
    """Another team's user group `app-readers`: its owner admits the users of the stacks whose
    names start with `Application` (the consent tag); users of any other stack cannot join."""

    def __init__(self, scope: Construct, id: str) -> None:  # noqa: A002
        super().__init__(scope, id)
        password = secretsmanager.Secret(
            self,
            "DefaultUserPassword",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True),
        )
        default = elasticache.CfnUser(
            self,
            "DefaultUser",
            user_id="app-readers-default",
            user_name="default",
            engine="valkey",
            access_string="off -@all",
            passwords=[password.secret_value.unsafe_unwrap()],
        )
        group = elasticache.CfnUserGroup(
            self,
            "Readers",
            user_group_id="app-readers",
            engine="valkey",
            user_ids=[default.user_id],
            tags=[members_from("Application")],
        )
        group.add_dependency(default)


class ApplicationStack(cdk.Stack):
    """The application's users. The user group `app-readers` belongs to another stack."""

    def __init__(self, scope: Construct, id: str, provider: ElastiCacheUserProviderBase) -> None:  # noqa: A002
        super().__init__(scope, id)
        user_arn = self.format_arn(
            service="elasticache",
            resource="user",
            resource_name="app-user",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        secret = secretsmanager.Secret(
            self,
            "AppUserSecret",
            secret_name="elasticache/app-user",  # under the provider's PasswordSecretsPrefix
            generate_secret_string=secretsmanager.SecretStringGenerator(
                # The shape of AWS's own ElastiCache rotation sample (docs/template-authors.md, "Password rotation").
                secret_string_template=f'{{"username": "app-user", "user_arn": "{user_arn}"}}',
                generate_string_key="password",
                password_length=32,
                exclude_characters=",\"/@ '\\`",
            ),
        )
        app_user = ElastiCacheUser(
            self,
            "AppUser",
            provider=provider,
            user_id="app-user",
            engine="valkey",
            access_string="on ~app:* +@read +@write",
            password_secret=secret,
            user_group_ids=["app-readers"],
            tags={"team": "payments"},
            service_timeout=cdk.Duration.minutes(30),
        )
        app_user.rotate(after=cdk.Duration.days(30))
        ElastiCacheUser(
            self,
            "ReportsUser",
            provider=provider,
            user_id="app-reports",
            engine="valkey",
            access_string="on ~reports:* +@read",
            iam=True,
        )
        cdk.CfnOutput(self, "AppUserArn", value=app_user.user_arn)


def build(app: cdk.App) -> cdk.App:
    providers = ProviderStack(app, "ElastiCacheUserProvider")
    # A provider deployed with SAM instead (`make deploy`): ElastiCacheUserProvider.from_export(
    # stack, "Provider") inside ApplicationStack imports its elasticache-user-provider-* exports.
    ApplicationStack(app, "Application", providers.provider).add_dependency(PlatformStack(app, "Platform"))
    return app


if __name__ == "__main__":
    build(cdk.App()).synth()
