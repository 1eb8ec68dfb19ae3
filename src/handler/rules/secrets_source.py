"""Reading user passwords kept in Secrets Manager or SSM Parameter Store, through powertools Parameters."""

from __future__ import annotations

import functools
import json
from typing import Any

from rules.properties import SecretReference, UserProperties, check_passwords
from runtime.clients import aws_client
from runtime.exceptions import DeadlineReached, PropertyError

# Seconds a fetched secret is reused by a warm function (powertools' cache).
SECRET_MAX_AGE = 60
# Deadline margin the Secrets Manager and SSM clients' attempts are fitted to (seconds).
CLIENT_MARGIN = 10.0


def _providers() -> tuple[Any, Any]:
    """powertools' Secrets Manager and SSM providers around deadline-bounded clients (boto3's
    defaults would wait 60 s per attempt), kept as long as their clients: their cache lives
    in them."""
    return _providers_of(aws_client("secretsmanager", CLIENT_MARGIN), aws_client("ssm", CLIENT_MARGIN))


@functools.cache
def _providers_of(secrets: Any, ssm: Any) -> tuple[Any, Any]:
    # Imported here: only requests that name a secret pay for it at cold start.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    return SecretsProvider(boto3_client=secrets), SSMProvider(boto3_client=ssm)


def _decode(raw: str) -> list[str]:
    """A secret holds one password as plain text, or JSON: {"password": ...}, {"passwords": [...]} or [...].

    Told apart by shape: only a JSON object or array is JSON. Any other text is the password
    itself, even when it would parse as a JSON number, string or literal (`1234567890123456789`)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return [raw]
    if not isinstance(value, dict | list):
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


def pending_password(reference: SecretReference) -> str | None:
    """The AWSPENDING password of a secret that is rotating right now (None: not rotating).
    Read past powertools' cache: a rotation's stage moves within minutes."""
    from botocore.exceptions import ClientError

    try:
        raw = aws_client("secretsmanager", CLIENT_MARGIN).get_secret_value(
            SecretId=reference.name, VersionStage="AWSPENDING"
        )["SecretString"]
    except ClientError:
        return None  # no pending version (ResourceNotFoundException), or not readable: as before
    try:
        pending = _decode(raw)
    except PropertyError:
        return None
    return pending[0] if pending else None


def reference_passwords(reference: SecretReference) -> tuple[str, ...]:
    """The validated passwords a secret reference holds. While a rotation is under way (an
    AWSPENDING that differs from AWSCURRENT) both: setting only the current one would lock
    out the clients the rotation's setSecret already moved to the pending one."""
    origin = "PasswordSecretId" if reference.kind == "secretsmanager" else "PasswordParameterName"
    passwords = read_passwords(reference, origin)
    pending = pending_password(reference) if reference.kind == "secretsmanager" else None
    if pending is not None and pending not in passwords:
        passwords = [passwords[0], pending]
    return check_passwords(passwords, f"The passwords in {origin}")


def passwords_for(properties: UserProperties) -> tuple[str, ...]:
    """The user's passwords: written in the template, or read from the secret it names."""
    return properties.spec.passwords if properties.secret is None else reference_passwords(properties.secret)
