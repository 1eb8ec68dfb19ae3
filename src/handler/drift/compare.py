"""The comparison at the heart of drift detection: a user's applied-state record against the
user as ElastiCache shows it now, property by property. Pure: nothing here calls AWS.

Property names are the resource's own (`UserName`, `Engine`, `AccessString`,
`AuthenticationMode` (its type only: never passwords or how many, so a rotation is not
drift), `UserGroupIds`, `Tags`), plus `Exists`. Tags: the template's tags changed, removed
or added by others, and the ownership and binding tags (`elasticache-user-resource:*`);
`aws:` tags are AWS's own and ignored. A group others added the user to is information only.
`UserGroupConsent`: declared groups whose owners no longer admit the stack (consent.py), the
user a member or not: reported, never repaired (a repair would join without consent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudformation.records import Record
from elasticache.limits import HOLD_TAG, OWNER_TAG_PREFIX
from elasticache.user_spec import DESCRIBED_AUTHENTICATION

# Properties repair puts back (the others are reported only: see app.py).
REPAIRABLE = frozenset({"AccessString", "UserGroupIds", "Tags"})


@dataclass
class Comparison:
    """What differs, as report entries, and what could not be compared (with why)."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    other_groups: list[str] = field(default_factory=list)
    uncompared: list[str] = field(default_factory=list)


def visible_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags drift compares: all but AWS's own `aws:` tags and an operator's hold (reported
    as such, app.py)."""
    return {k: v for k, v in tags.items() if not k.lower().startswith("aws:") and k != HOLD_TAG}


def tag_changes(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[dict[str, Any]]:
    """One entry per tag key changed, removed (Actual None) or added (Expected None)."""
    keys = sorted(set(expected) | set(actual))
    return [
        {"Property": "Tags", "Key": key, "Expected": expected.get(key), "Actual": actual.get(key)}
        for key in keys
        if expected.get(key) != actual.get(key)
    ]


def compare(record: Record, user: Mapping[str, Any] | None, tags: Mapping[str, str], groups: list[str]) -> Comparison:
    """`user` as DescribeUsers shows it (None: gone), its `tags` and the groups it is in."""
    result = Comparison()
    if user is None:
        result.changes.append({"Property": "Exists", "Expected": True, "Actual": False})
        return result
    scalar = [
        ("UserName", record.user_name, str(user.get("UserName", ""))),
        ("Engine", record.engine, str(user.get("Engine", "")).lower()),
    ]
    kind = str(user.get("Authentication", {}).get("Type", ""))
    scalar.append(("AuthenticationMode", record.authentication, DESCRIBED_AUTHENTICATION.get(kind, kind)))
    actual_access = str(user.get("AccessString", ""))
    if record.access_string_form == "reported" or record.access_string == actual_access:
        scalar.insert(1, ("AccessString", record.access_string, actual_access))
    else:
        # Only the template's form was recorded (a hand-over whose last poll was not recorded):
        # ElastiCache's rewriting of it would look like drift.
        result.uncompared.append("AccessString (recorded as declared, not in ElastiCache's form)")
    for name, expected, actual in scalar:
        if expected != actual:
            result.changes.append({"Property": name, "Expected": expected, "Actual": actual})
    missing = [g for g in record.group_ids if g not in groups]
    if missing:
        result.changes.append(
            {"Property": "UserGroupIds", "Expected": list(record.group_ids), "Actual": list(groups), "Missing": missing}
        )
    result.other_groups = [g for g in groups if g not in record.group_ids]
    shown = visible_tags(tags)
    expected_tags = {**record.tags, **record.ownership}
    result.changes.extend(tag_changes(expected_tags, shown))
    return result


def consent_changes(refused: Mapping[str, str]) -> list[dict[str, Any]]:
    """The entry for declared groups whose owners withdrew consent (group -> why), if any."""
    if not refused:
        return []
    return [
        {
            "Property": "UserGroupConsent",
            "UserGroupIds": sorted(refused),
            "Reasons": [refused[g] for g in sorted(refused)],
        }
    ]


def is_ownership_tag(key: str) -> bool:
    return key.startswith(OWNER_TAG_PREFIX)
