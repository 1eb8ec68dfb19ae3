"""Parsing and validating a Custom::ElastiCacheUser request: its envelope and its properties.

Every rule failure is a PropertyError whose message names the property and the rule, and
never the value of a password. CloudFormation sends every scalar as a string, so booleans
arrive as "true" / "false".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from elasticache.user_spec import AuthenticationType, UserSpec
from rules.envelope import (
    SecretReference,
    adopts_existing_user,
    envelope_problem,
    is_user_id,
    owner_tags,
    parse_bool,
)
from rules.property_table import (
    AUTHENTICATION_PROPERTIES,
    AUTHENTICATION_TYPES,
    ENGINES,
    GROUPS_MAX,
    KNOWN_PROPERTIES,
    PASSWORD_ALLOWED,
    PASSWORD_MAX,
    PASSWORD_MIN,
    PASSWORDS_MAX,
    REQUIRED_PROPERTIES,
    RESERVED_TAG_PREFIXES,
    SECRET_TAG,
    TAG_KEY_MAX,
    TAG_VALUE_MAX,
    TAGS_MAX,
    USER_ID_MAX,
    USER_NAME_MAX,
)
from runtime.exceptions import PropertyError

# Defined in envelope.py (light: every request imports it); taken from here by the validation's readers.
__all__ = ["SecretReference", "adopts_existing_user", "envelope_problem", "is_user_id", "owner_tags", "parse_bool"]


@dataclass(frozen=True)
class UserProperties:
    """The validated ResourceProperties of one Custom::ElastiCacheUser.

    `spec` holds the passwords written in the template (none when `secret` names where
    they are kept) and the template's own tags (not the ownership tags).
    """

    spec: UserSpec
    secret: SecretReference | None = None
    adopt_existing: bool = False
    group_ids: tuple[str, ...] = ()


def _text(properties: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = properties.get(name)
    if value is None:
        if required:
            raise PropertyError(f"{name} is required.")
        return None
    if not isinstance(value, str):
        raise PropertyError(f"{name} must be a string.")
    if not value.strip():
        raise PropertyError(f"{name} must not be blank.")
    return value


def check_passwords(passwords: object, origin: str) -> tuple[str, ...]:
    """Validate a password list against ElastiCache's rules, naming `origin` in any error."""
    if not isinstance(passwords, (list, tuple)) or not all(isinstance(p, str) for p in passwords):
        raise PropertyError(f"{origin} must be a list of strings.")
    if not 1 <= len(passwords) <= PASSWORDS_MAX:
        raise PropertyError(f"{origin} must hold 1 or {PASSWORDS_MAX} passwords (got {len(passwords)}).")
    for index, password in enumerate(passwords):
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise PropertyError(
                f"{origin}[{index}] must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long (got {len(password)})."
            )
        if not set(password) <= PASSWORD_ALLOWED:
            raise PropertyError(
                f"{origin}[{index}] may hold only printable ASCII characters other than space, ',', '\"', '/' and '@'."
            )
    return tuple(passwords)


def _tags(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise PropertyError("Tags must be a list of {Key, Value} objects.")
    if len(value) > TAGS_MAX:
        raise PropertyError(f"Tags may hold at most {TAGS_MAX} tags (got {len(value)}).")
    tags: dict[str, str] = {}
    for index, tag in enumerate(value):
        if not isinstance(tag, Mapping) or not isinstance(tag.get("Key"), str) or not isinstance(tag.get("Value"), str):
            raise PropertyError(f"Tags[{index}] must be an object with string Key and Value.")
        key, tag_value = tag["Key"], tag["Value"]
        if not 1 <= len(key) <= TAG_KEY_MAX or len(tag_value) > TAG_VALUE_MAX:
            raise PropertyError(
                f"Tags[{index}]: Key must be 1 to {TAG_KEY_MAX} characters and Value at most {TAG_VALUE_MAX}."
            )
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            reserved = " or ".join(f"'{prefix}'" for prefix in RESERVED_TAG_PREFIXES)
            raise PropertyError(f"Tags[{index}]: keys starting with {reserved} are reserved.")
        if key in tags:
            raise PropertyError(f"Tags[{index}]: the key '{key}' appears twice.")
        tags[key] = tag_value
    return tags


def _group_ids(value: object) -> tuple[str, ...]:
    """UserGroupIds: existing user group ids (same pattern as a UserId), stored lower-case."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise PropertyError("UserGroupIds must be a list of user group ids.")
    if len(value) > GROUPS_MAX:
        raise PropertyError(f"UserGroupIds may hold at most {GROUPS_MAX} groups (got {len(value)}).")
    groups: list[str] = []
    for index, group_id in enumerate(value):
        if not is_user_id(group_id):
            raise PropertyError(
                f"UserGroupIds[{index}] must start with a letter, hold only letters, digits and hyphens, "
                f"and be at most {USER_ID_MAX} characters."
            )
        if group_id.lower() in groups:
            raise PropertyError(f"UserGroupIds[{index}]: the group '{group_id.lower()}' appears twice.")
        groups.append(group_id.lower())
    return tuple(groups)


def _authentication(
    properties: Mapping[str, Any],
) -> tuple[AuthenticationType, tuple[str, ...], SecretReference | None]:
    """The one way of authenticating the properties choose, with its passwords or their secret."""
    no_password = parse_bool("NoPasswordRequired", properties.get("NoPasswordRequired"))
    given = [
        name
        for name in AUTHENTICATION_PROPERTIES
        if (no_password if name == "NoPasswordRequired" else properties.get(name) is not None)
    ]
    if len(given) != 1:
        raise PropertyError(
            f"Set exactly one of {', '.join(AUTHENTICATION_PROPERTIES[:-1])} and {AUTHENTICATION_PROPERTIES[-1]}: "
            "true" + (f" (got {', '.join(given)})." if given else " (got none).")
        )
    choice = given[0]
    if choice == "Passwords":
        return "password", check_passwords(properties["Passwords"], "Passwords"), None
    if choice == "PasswordSecretId":
        return "password", (), SecretReference("secretsmanager", str(_text(properties, choice)))
    if choice == "PasswordParameterName":
        return "password", (), SecretReference("ssm", str(_text(properties, choice)))
    if choice == "NoPasswordRequired":
        return "no-password-required", (), None
    mode = properties["AuthenticationMode"]
    if not isinstance(mode, Mapping) or set(mode) - {"Type", "Passwords"}:
        raise PropertyError("AuthenticationMode must be an object with Type and, for password, Passwords.")
    kind = mode.get("Type")
    if kind not in AUTHENTICATION_TYPES:
        raise PropertyError("AuthenticationMode.Type must be one of " + ", ".join(AUTHENTICATION_TYPES) + ".")
    if kind == "password":
        return "password", check_passwords(mode.get("Passwords"), "AuthenticationMode.Passwords"), None
    if mode.get("Passwords") is not None:
        raise PropertyError(f"AuthenticationMode.Passwords is only allowed with Type password, not {kind}.")
    return kind, (), None


def parse_properties(properties: Mapping[str, Any]) -> UserProperties:
    """Validate ResourceProperties and return them normalised (UserId and Engine lower-case)."""
    unknown = sorted(str(name) for name in properties if name not in KNOWN_PROPERTIES)
    if unknown:
        raise PropertyError("Unknown property(ies): " + ", ".join(name[:60] for name in unknown[:5]) + ".")
    for name in REQUIRED_PROPERTIES:
        _text(properties, name)
    user_id = str(_text(properties, "UserId"))
    if not is_user_id(user_id):
        raise PropertyError(
            f"UserId must start with a letter, hold only letters, digits and hyphens, and be at most "
            f"{USER_ID_MAX} characters (got {len(user_id)} characters)."
        )
    user_name = str(_text(properties, "UserName"))
    if any(c.isspace() for c in user_name) or len(user_name) > USER_NAME_MAX:
        raise PropertyError(f"UserName must be at most {USER_NAME_MAX} characters and hold no white space.")
    engine = str(_text(properties, "Engine"))
    # ASCII only: str.lower() makes the Kelvin sign a 'k', which the schema's [Kk] refuses.
    engine = engine.lower() if engine.isascii() else engine
    if engine not in ENGINES:
        raise PropertyError(f"Engine must be {' or '.join(ENGINES)}.")
    access_string = str(_text(properties, "AccessString"))
    from rules.access_string import analyse  # Create and Update only: a Delete's cold start skips it

    errors = analyse(access_string).errors
    if errors:
        more = f" ({len(errors) - 1} more problem(s) in it.)" if len(errors) > 1 else ""
        raise PropertyError(errors[0].describe() + more)
    authentication, passwords, secret = _authentication(properties)
    if authentication == "no-password-required" and engine == "valkey":
        raise PropertyError("Valkey users cannot be no-password users: set Passwords or use IAM authentication.")
    tags = _tags(properties.get("Tags"))
    if secret is not None and secret.kind == "secretsmanager" and len(tags) > TAGS_MAX - 1:
        raise PropertyError(f"Tags may hold at most {TAGS_MAX - 1} tags with PasswordSecretId (got {len(tags)}).")
    if authentication == "iam" and user_id.lower() != user_name:
        raise PropertyError("With IAM authentication, UserId must equal UserName (both lower-case).")
    return UserProperties(
        spec=UserSpec(
            user_id=user_id.lower(),
            user_name=user_name,
            engine=engine,
            access_string=access_string,
            authentication=authentication,
            passwords=passwords,
            tags=tags,
        ),
        secret=secret,
        adopt_existing=parse_bool("AdoptExistingUser", properties.get("AdoptExistingUser")),
        group_ids=_group_ids(properties.get("UserGroupIds")),
    )


def binding_tags(properties: UserProperties | None) -> dict[str, str]:
    """The tag that binds a user to its Secrets Manager secret (none for other passwords)."""
    if properties is None or properties.secret is None or properties.secret.kind != "secretsmanager":
        return {}
    return {SECRET_TAG: properties.secret.name}


def needs_replacement(old: UserSpec, new: UserSpec) -> list[str]:
    """The properties whose change forces a new user (empty list: update in place).

    ModifyUser changes neither UserId nor UserName, and moves an engine only from redis
    to valkey; any other engine change needs a new user.
    """
    changed = [
        name
        for name, before, after in (("UserId", old.user_id, new.user_id), ("UserName", old.user_name, new.user_name))
        if before != after
    ]
    if old.engine != new.engine and (old.engine, new.engine) != ("redis", "valkey"):
        changed.append("Engine")
    return changed
