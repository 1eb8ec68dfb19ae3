"""Reading user passwords kept in Secrets Manager or SSM Parameter Store, through powertools Parameters."""

from __future__ import annotations

import json

from exceptions import PropertyError
from properties import SecretReference, UserProperties, check_passwords

# Seconds a fetched secret is reused by a warm function (powertools' cache).
SECRET_MAX_AGE = 60


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
    # Imported here: only requests that name a secret pay for it at cold start.
    from aws_lambda_powertools.utilities import parameters

    try:
        if reference.kind == "secretsmanager":
            raw = parameters.get_secret(reference.name, max_age=SECRET_MAX_AGE)
        else:
            raw = parameters.get_parameter(reference.name, decrypt=True, max_age=SECRET_MAX_AGE)
    except parameters.exceptions.GetParameterError as error:
        # powertools wraps the botocore error, keeping it only as the implicit context.
        cause = error.__cause__ or error.__context__ or error
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
