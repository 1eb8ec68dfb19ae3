"""Custom::ElastiCacheUser's properties, attributes and ownership tags, in one table each.

`properties.py` validates with these names, limits and choices; lint rule E9101 takes its
stand-ins and the ways of authenticating from here; the Syntax, Properties, tag and
Return values sections of docs/template-authors.md and `schema/custom-elasticache-user.schema.json` are generated from
it (`python -m lint.reference`; a test fails when they drift apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elasticache.limits import (
    ADOPTED_TAG,
    AUTHENTICATION_TYPES,
    ENGINES,
    GROUPS_MAX,
    LOGICAL_ID_TAG,
    OWNER_TAG_PREFIX,
    OWNERSHIP_TAGS,
    PASSWORD_ALLOWED,
    PASSWORD_FORBIDDEN,
    PASSWORD_MAX,
    PASSWORD_MIN,
    PASSWORDS_MAX,
    PROVIDER_TAG,
    RESERVED_TAG_PREFIXES,
    SECRET_TAG,
    SERVICE_TIMEOUT_MAX,
    STACK_TAG,
    TAG_KEY_MAX,
    TAG_VALUE_MAX,
    TAGS_MAX,
    USER_ID_MAX,
    USER_ID_REGEX,
    USER_NAME_MAX,
    USER_TAGS_MAX,
)

# The limits and tag keys are defined in limits.py (light, on every request path); readers of
# the tables take them from here too.
__all__ = [
    "ADOPTED_TAG",
    "AUTHENTICATION_TYPES",
    "ENGINES",
    "GROUPS_MAX",
    "LOGICAL_ID_TAG",
    "OWNERSHIP_TAGS",
    "OWNER_TAG_PREFIX",
    "PASSWORDS_MAX",
    "PASSWORD_ALLOWED",
    "PASSWORD_FORBIDDEN",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "PROVIDER_TAG",
    "RESERVED_TAG_PREFIXES",
    "SECRET_TAG",
    "SERVICE_TIMEOUT_MAX",
    "STACK_TAG",
    "TAGS_MAX",
    "TAG_KEY_MAX",
    "TAG_VALUE_MAX",
    "USER_ID_MAX",
    "USER_ID_REGEX",
    "USER_NAME_MAX",
    "USER_TAGS_MAX",
]


def any_case(word: str) -> str:
    """A regular expression for `word` in any case (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def char_class(allowed: frozenset[str]) -> str:
    """A regular expression class of `allowed` (ASCII), as ranges of \\x escapes."""
    ranges: list[list[int]] = []
    for code in sorted(ord(c) for c in allowed):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(f"\\x{a:02x}" + (f"-\\x{b:02x}" if b > a else "") for a, b in ranges) + "]"


BOOLEAN_SCHEMA = {
    "anyOf": [{"type": "boolean"}, {"type": "string", "pattern": rf"^\s*({any_case('true')}|{any_case('false')})\s*$"}]
}
TRUE_SCHEMA = {"anyOf": [{"const": True}, {"type": "string", "pattern": rf"^\s*{any_case('true')}\s*$"}]}
PASSWORDS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": PASSWORDS_MAX,
    "items": {
        "type": "string",
        "minLength": PASSWORD_MIN,
        "maxLength": PASSWORD_MAX,
        "pattern": f"^{char_class(PASSWORD_ALLOWED)}*$",
    },
}
TEXT_SCHEMA = {"type": "string", "pattern": r"\S"}
ID_SCHEMA = {"type": "string", "pattern": f"^{USER_ID_REGEX}$", "maxLength": USER_ID_MAX}


@dataclass(frozen=True)
class Property:
    """One property: how docs/template-authors.md shows it, its JSON Schema, and its lint stand-in (a valid
    value put in place of an intrinsic function, so the rest can still be checked)."""

    name: str
    type: str
    required: str  # "yes", "no", or CHOICE
    rules: str
    schema: dict[str, Any]
    stand_in: object
    update: str = "In place"
    default: str = ""
    syntax: str = "String"
    # CloudFormation's own property: CloudFormation checks it, the handler does not see it.
    cloudformation: bool = False


CHOICE = "one of the five"
PASSWORD_RULES = (
    f"1 or {PASSWORDS_MAX} passwords, {PASSWORD_MIN} to {PASSWORD_MAX} printable ASCII characters, no space, `,`, "
    '`"`, `/` or `@` (RBAC docs; space: see below).'
)
STAND_IN_PASSWORD = "Stand-In-Passw0rd-0001"  # noqa: S105 - a stand-in that passes the rules, never sent

PROPERTIES = (
    Property(
        "ServiceToken",
        "String",
        "yes",
        "The provider's ARN (output `ServiceToken`).",
        {"type": "string"},
        "stand-in",
        update="",
        cloudformation=True,
    ),
    Property(
        "ServiceTimeout",
        "Integer",
        "no",
        f"CloudFormation's own: seconds it waits for an answer (1 to {SERVICE_TIMEOUT_MAX}).",
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": SERVICE_TIMEOUT_MAX},
                {"type": "string", "pattern": "^[0-9]+$"},
            ]
        },
        str(SERVICE_TIMEOUT_MAX),
        update="",
        default=str(SERVICE_TIMEOUT_MAX),
        syntax="Integer",
        cloudformation=True,
    ),
    Property(
        "UserId",
        "String",
        "yes",
        f"Starts with a letter; letters, digits and hyphens; at most {USER_ID_MAX}. Stored lower-case: the "
        "physical id is the lower-case UserId.",
        ID_SCHEMA,
        "stand-in-user",
        update="Replacement",
    ),
    Property(
        "UserName",
        "String",
        "yes",
        f"At most {USER_NAME_MAX} characters, no white space. With IAM authentication it must equal UserId.",
        {"type": "string", "pattern": r"^\S+$", "maxLength": USER_NAME_MAX},
        "stand-in-user",
        update="Replacement (with a new UserId)",
    ),
    Property(
        "Engine",
        "String",
        "yes",
        " or ".join(f"`{engine}`" for engine in ENGINES) + ", any case.",
        {"type": "string", "pattern": "^(" + "|".join(any_case(engine) for engine in ENGINES) + ")$"},
        "redis",
        update="In place redis → valkey; other changes replacement (with a new UserId)",
    ),
    Property(
        "AccessString",
        "String",
        "yes",
        "Checked with the engine's own `ACL SETUSER` grammar and ElastiCache's rules before any API call: see "
        "[Access strings](#access-strings).",
        TEXT_SCHEMA,
        "on ~* +@all",
    ),
    Property(
        "Passwords",
        "List of String",
        CHOICE,
        PASSWORD_RULES,
        PASSWORDS_SCHEMA,
        [STAND_IN_PASSWORD],
        syntax="[String, ...]",
    ),
    Property(
        "PasswordSecretId",
        "String",
        CHOICE,
        'A Secrets Manager secret (name or ARN) holding the password as text, or JSON `{"password": "…"}`, '
        '`{"passwords": ["…", "…"]}` or `["…", "…"]`; same password rules. Only a JSON object or array is read '
        "as JSON: any other text (`1234567890123456789` too) is the password. Read with powertools Parameters "
        f"(cached 60 s). The user is bound to it (tag `{SECRET_TAG}`, written by Create and by a take-over), so "
        "the provider's rotation function may rotate it: see [Password rotation](#password-rotation); that "
        'function needs the JSON object `{"username": "…", "password": "…", "user_arn": "…"}` (AWS\'s '
        "ElastiCache rotation shape; `username` or `user_arn` names the user). While a rotation is under way "
        "(an `AWSPENDING` version that differs from `AWSCURRENT`), both passwords are set. "
        f"At most {TAGS_MAX - 1} `Tags` with it.",
        TEXT_SCHEMA,
        "stand-in",
    ),
    Property(
        "PasswordParameterName",
        "String",
        CHOICE,
        "An SSM SecureString parameter, same formats as the secret.",
        TEXT_SCHEMA,
        "stand-in",
    ),
    Property(
        "AuthenticationMode",
        "Object",
        CHOICE,
        "`Type`: `password` (with `Passwords`), `iam` or `no-password-required`.",
        {
            "type": "object",
            "properties": {"Type": {"enum": list(AUTHENTICATION_TYPES)}, "Passwords": PASSWORDS_SCHEMA},
            "required": ["Type"],
            "additionalProperties": False,
            "if": {"properties": {"Type": {"const": "password"}}},
            "then": {"required": ["Passwords"]},
            "else": {"not": {"required": ["Passwords"]}},
        },
        {"Type": "password", "Passwords": [STAND_IN_PASSWORD]},
        syntax="\n  Type: String\n  Passwords: [String, ...]",
    ),
    Property(
        "NoPasswordRequired",
        "Boolean",
        CHOICE,
        "`true` makes a no-password user; not allowed for valkey.",
        BOOLEAN_SCHEMA,
        "false",
        default="`false`",
        syntax="Boolean",
    ),
    Property(
        "Tags",
        "List of Tag",
        "no",
        f"At most {TAGS_MAX} (ElastiCache allows {USER_TAGS_MAX} per user; {len(OWNERSHIP_TAGS)} are the ownership "
        f"tags); Key 1 to {TAG_KEY_MAX}, Value ≤ {TAG_VALUE_MAX}; keys starting "
        + " or ".join(f"`{prefix}`" for prefix in RESERVED_TAG_PREFIXES)
        + " are reserved; no duplicate keys.",
        {
            "type": "array",
            "maxItems": TAGS_MAX,
            "items": {
                "type": "object",
                "properties": {
                    "Key": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": TAG_KEY_MAX,
                        "pattern": "^(?!" + "|".join(any_case(p) for p in RESERVED_TAG_PREFIXES) + ")",
                    },
                    "Value": {"type": "string", "maxLength": TAG_VALUE_MAX},
                },
                "required": ["Key", "Value"],
            },
        },
        [],
        default="none",
        syntax="[{Key: String, Value: String}, ...]",
    ),
    Property(
        "UserGroupIds",
        "List of String",
        "no",
        "Existing user groups the user belongs to: each starts with a letter, letters, digits and hyphens, at "
        f"most {USER_ID_MAX}, stored lower-case; no duplicates; at most {GROUPS_MAX}; under the provider's "
        "`UserGroupIdPrefix`. Each group must exist, and a `valkey` group takes only users with password or IAM "
        "authentication: both are checked before any change.",
        {"type": "array", "maxItems": GROUPS_MAX, "uniqueItems": True, "items": ID_SCHEMA},
        [],
        update="In place: joins the new groups, then leaves the dropped ones",
        default="none",
        syntax="[String, ...]",
    ),
    Property(
        "AdoptExistingUser",
        "Boolean",
        "no",
        "`true`: Create takes over an existing user with this UserId (tags it as owned, then sets it to these "
        "properties) and Delete deletes a user even without this stack's ownership tags.",
        BOOLEAN_SCHEMA,
        "false",
        default="`false`",
        syntax="Boolean",
    ),
)
PROPERTY = {p.name: p for p in PROPERTIES}
KNOWN_PROPERTIES = frozenset(PROPERTY)
REQUIRED_PROPERTIES = tuple(p.name for p in PROPERTIES if p.required == "yes" and not p.cloudformation)
# The ways of authenticating, exactly one of which a user is declared with.
AUTHENTICATION_PROPERTIES = tuple(p.name for p in PROPERTIES if p.required == CHOICE)


@dataclass(frozen=True)
class Attribute:
    """One Fn::GetAtt attribute: the field of DescribeUsers' user it is read from."""

    name: str
    meaning: str
    path: tuple[str, ...] = ()
    missing: str = ""


ATTRIBUTES = (
    Attribute("Arn", "The user's ARN.", ("ARN",)),
    Attribute("UserId", "The UserId."),
    Attribute("UserName", "The UserName."),
    Attribute("Status", "The status when the request finished (`active`)."),
    Attribute("Engine", "`redis` or `valkey`."),
    Attribute("MinimumEngineVersion", "The minimum engine version the user needs."),
    Attribute(
        "UserGroupIds",
        "The user groups it belongs to, comma-separated, read back from ElastiCache once every change is done.",
    ),
    Attribute("AuthenticationType", "`password`, `no-password` or `iam`.", ("Authentication", "Type")),
    Attribute("PasswordCount", "How many passwords it has.", ("Authentication", "PasswordCount"), "0"),
)
