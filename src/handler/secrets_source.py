"""Reading user passwords kept in Secrets Manager or SSM Parameter Store, through powertools Parameters."""

from __future__ import annotations

import functools
import json
from typing import Any

from clients import aws_client
from exceptions import DeadlineReached, PropertyError
from properties import SecretReference, UserProperties, check_passwords

# Seconds a fetched secret is reused by a warm function (powertools' cache).
SECRET_MAX_AGE = 60
# Deadline margin the Secrets Manager and SSM clients' attempts are fitted to (seconds).
CLIENT_MARGIN = 10.0


@functools.cache
def _providers() -> tuple[Any, Any]:
    """powertools' Secrets Manager and SSM providers around deadline-bounded clients (boto3's
    defaults would wait 60 s per attempt), kept for the life of the container: their cache
    lives in them."""
    # Imported here: only requests that name a secret pay for it at cold start.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    return (
        SecretsProvider(boto3_client=aws_client("secretsmanager", CLIENT_MARGIN)),
        SSMProvider(boto3_client=aws_client("ssm", CLIENT_MARGIN)),
    )


def _decode(raw: str) -> list[str]:
    """A secret holds one password as plain text, or JSON: {"password": ...}, {"passwords": [...]} or [...]."""
    try:
        value = json.loads(raw)
    except ValueError:
        return [raw]
    if isinstance(value, dict):
        value = value.get("passwords", [value["password"]] if "password" in value else None)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise PropertyError(
        'The secret must hold a password as plain text, or JSON {"password": "..."}, '
        '{"passwords": ["...", "..."]} or ["...", "..."].'
    )


def read_passwords(reference: SecretReference, origin: str) -> list[str]:
    """Fetch and decode the passwords a secret reference names; errors never hold the value."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    secrets, ssm = _providers()
    try:
        if reference.kind == "secretsmanager":
            raw = secrets.get(reference.name, max_age=SECRET_MAX_AGE)
        else:
            raw = ssm.get(reference.name, decrypt=True, max_age=SECRET_MAX_AGE)
    except GetParameterError as error:
        # powertools wraps the botocore error, keeping it only as the implicit context.
        cause = error.__cause__ or error.__context__ or error
        if isinstance(cause, DeadlineReached):
            raise cause from None
        code = getattr(cause, "response", {}).get("Error", {}).get("Code", type(cause).__name__)
        raise PropertyError(f"{origin} '{reference.name}' could not be read ({code}).") from None
    if not isinstance(raw, str):
        raise PropertyError(f"{origin} '{reference.name}' does not hold text.")
    try:
        return _decode(raw)
    except PropertyError as error:
        raise PropertyError(f"{origin} '{reference.name}': {error}") from None


def reference_passwords(reference: SecretReference) -> tuple[str, ...]:
    """The validated passwords a secret reference holds."""
    origin = "PasswordSecretId" if reference.kind == "secretsmanager" else "PasswordParameterName"
    return check_passwords(read_passwords(reference, origin), f"The passwords in {origin}")


def passwords_for(properties: UserProperties) -> tuple[str, ...]:
    """The user's passwords: written in the template, or read from the secret it names."""
    return properties.spec.passwords if properties.secret is None else reference_passwords(properties.secret)
