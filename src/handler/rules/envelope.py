"""What every request needs before any property is validated: the envelope's check, the
ownership tags, the UserId rule, AdoptExistingUser read leniently, and where a secret is kept.
Light on purpose (no property table): a Delete imports only this; `properties.py` validates
the properties of a Create or Update.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from elasticache.limits import LOGICAL_ID_TAG, PROVIDER_TAG, STACK_TAG, USER_ID_MAX, USER_ID_REGEX
from runtime.exceptions import PropertyError

REQUEST_TYPES = ("Create", "Update", "Delete")
ENVELOPE_FIELDS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId")
USER_ID_PATTERN = re.compile(USER_ID_REGEX)


def envelope_problem(event: object) -> str | None:
    """Why a request is not a well-formed custom resource request, or None if it is."""
    if not isinstance(event, Mapping):
        return "The request is not a JSON object."
    missing = [name for name in ENVELOPE_FIELDS if not isinstance(event.get(name), str) or not event.get(name)]
    if missing:
        return "The request lacks the field(s) " + ", ".join(missing) + "."
    if event["RequestType"] not in REQUEST_TYPES:
        return f"Unknown RequestType '{str(event['RequestType'])[:40]}': expected Create, Update or Delete."
    if event["RequestType"] != "Create" and not isinstance(event.get("PhysicalResourceId"), str):
        return f"A {event['RequestType']} request needs a PhysicalResourceId."
    for name in ("ResourceProperties", "OldResourceProperties"):
        if name in event and not isinstance(event[name], Mapping):
            return f"{name} must be an object."
    return None


def owner_tags(provider_id: str, stack_id: str, logical_id: str) -> dict[str, str]:
    """The tags that mark a user as made by one provider, for one resource of one stack. The
    provider's IAM policy changes only users whose provider tag names it (template.yaml)."""
    return {PROVIDER_TAG: provider_id, STACK_TAG: stack_id, LOGICAL_ID_TAG: logical_id}


def is_user_id(value: object) -> bool:
    """True if `value` could be an ElastiCache UserId (physical ids crhelper generates cannot)."""
    return isinstance(value, str) and len(value) <= USER_ID_MAX and USER_ID_PATTERN.fullmatch(value) is not None


def parse_bool(name: str, value: object, default: bool = False) -> bool:
    """A boolean property: true/false, or the strings CloudFormation sends for them."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise PropertyError(f"{name} must be true or false.")


def adopts_existing_user(properties: Mapping[str, Any]) -> bool:
    """AdoptExistingUser, read leniently: a Delete must not fail on a property typo."""
    try:
        return parse_bool("AdoptExistingUser", properties.get("AdoptExistingUser"))
    except PropertyError:
        return False


class SecretReference(NamedTuple):
    """Where the passwords are kept when not in the template: Secrets Manager or SSM."""

    kind: str  # "secretsmanager" or "ssm"
    name: str
